/**
 * What the Data Manager and Google Ads destinations decide the same way: which conversion action a signal
 * goes to, which kind of conversion it is (click, call or enhanced conversion for leads), what a correction
 * points at, and how a `google.rpc.Status` error body reads.
 *
 * @example
 *   conversionKind(signal)                             // 'click' when a gclid/gbraid/wbraid is known
 *   matchConversion({ 'disposition:*': '111' }, 'disposition:Sale') // '111'
 */
import { type GoogleIdentifiers, googleIdentifiers } from '../../identity/google.ts'
import type { ConsentState } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import { matchSignal } from '../signal-map.ts'

/** The three ways Google can attribute an offline conversion, chosen from what the signal carries. */
export type ConversionKind = 'click' | 'call' | 'lead'

/** The one click id sent to Google: gclid first (it wins over braids), then wbraid (web), then gbraid (app). */
export type ClickId = { gclid: string } | { wbraid: string } | { gbraid: string }

/**
 * The signal's Google click id, if any: `ext.click_ids` holds every platform's ids side by side.
 *
 * @example googleClickId(signal) // { gclid: 'Cj0KCQ…' }
 */
export function googleClickId(signal: Signal): ClickId | undefined {
  const ids = signal.event.ext?.click_ids
  const clean = (v: string | undefined) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined)
  const gclid = clean(ids?.gclid)
  if (gclid) return { gclid }
  // Setting both braids is an error (GBRAID_WBRAID_BOTH_SET); a web landing page yields wbraid.
  const wbraid = clean(ids?.wbraid)
  if (wbraid) return { wbraid }
  const gbraid = clean(ids?.gbraid)
  return gbraid ? { gbraid } : undefined
}

/** The caller's number from `ext.call`, when the signal came from a call. */
export const callerOf = (signal: Signal): string | undefined => {
  const caller = signal.event.ext?.call?.caller
  return typeof caller === 'string' && caller.trim() !== '' ? caller.trim() : undefined
}

/** Signals that are about a phone call (their Google `eventSource` is PHONE). */
export function isCallSignal(signal: Signal): boolean {
  return (
    signal.event.ext?.call !== undefined ||
    signal.event.source === 'phone_call' ||
    ['call_connected', 'qualified_call', 'closed_outcome'].includes(signal.name) ||
    signal.name.startsWith('disposition:')
  )
}

/**
 * Click id → click conversion; else a caller number → call conversion; else enhanced conversion for leads
 * (hashed PII only). The payload builders check the lead case actually has identifiers.
 *
 * @example conversionKind(signalWithOnlyCaller) // 'call'
 */
export function conversionKind(signal: Signal): ConversionKind {
  if (googleClickId(signal)) return 'click'
  if (callerOf(signal)) return 'call'
  return 'lead'
}

/**
 * The conversion action for a signal name: an exact key wins, then the first matching glob in config order.
 *
 * @example matchConversion({ qualified_call: '1', 'disposition:*': '2', '*': '3' }, 'disposition:Sale') // '2'
 */
export function matchConversion(
  map: Record<string, string> | undefined,
  signalName: string,
): string | undefined {
  return map ? matchSignal(map, signalName) : undefined
}

/** What a `correction` signal corrects. */
export interface CorrectionTarget {
  /** The original signal id, i.e. the original `transactionId` / `orderId`. */
  signalId: string
  adjustment: 'retract' | 'restate'
  /** Name of the original signal, to find its conversion action (falls back to the `correction` mapping). */
  signalName?: string
  /** When the original conversion happened, epoch seconds. */
  occurredAt?: number
}

/**
 * Read a correction's target from `signal.attrs` (`corrects`, `adjustment`, optional `corrects_name`,
 * `corrects_occurred_at`). Returns undefined when the signal is not a well-formed correction.
 *
 * @example correctionTarget({ name: 'correction', attrs: { corrects: 'sig-1', adjustment: 'retract' } })
 */
export function correctionTarget(signal: Signal): CorrectionTarget | undefined {
  if (signal.name !== 'correction') return undefined
  const { corrects, adjustment, corrects_name, corrects_occurred_at } = signal.attrs
  if (typeof corrects !== 'string' || corrects === '') return undefined
  if (adjustment !== 'retract' && adjustment !== 'restate') return undefined
  return {
    signalId: corrects,
    adjustment,
    signalName: typeof corrects_name === 'string' ? corrects_name : undefined,
    occurredAt: typeof corrects_occurred_at === 'number' ? corrects_occurred_at : undefined,
  }
}

/** Signals that are never conversions (design §1: No Answer follow-ups are internal). */
export const NEVER_A_CONVERSION = new Set(['follow_up'])

/** Why a signal cannot be sent as a conversion: a permanent outcome for its job. */
export interface NotSendable {
  ok: false
  code: string
  message: string
}

/**
 * What a signal is sent as: refused when it is never a conversion or a malformed correction; else its
 * correction target (if it is one) and the name its conversion action is looked up by (a correction's is the
 * corrected signal's, falling back to `correction`).
 *
 * @example conversionSubject({ ...signal, name: 'qualified_call' }) // { ok: true, lookupName: 'qualified_call' }
 */
export function conversionSubject(
  signal: Signal,
): NotSendable | { ok: true; correction?: CorrectionTarget; lookupName: string } {
  if (NEVER_A_CONVERSION.has(signal.name))
    return {
      ok: false,
      code: 'GOOGLE_NOT_A_CONVERSION',
      message: `${signal.name} is never sent as a conversion`,
    }
  const correction = correctionTarget(signal)
  if (signal.name === 'correction' && !correction)
    return {
      ok: false,
      code: 'GOOGLE_CORRECTION_INVALID',
      message: 'correction without attrs.corrects / attrs.adjustment',
    }
  const lookupName = correction ? (correction.signalName ?? 'correction') : signal.name
  return correction ? { ok: true, correction, lookupName } : { ok: true, lookupName }
}

/**
 * The configured conversion action for a lookup name (`matchConversion`, else the default), or why there is
 * none.
 *
 * @example conversionActionFor({ conversions: { 'disposition:*': '2' } }, 'disposition:Sale') // { ok: true, action: '2' }
 */
export function conversionActionFor(
  settings: { conversions: Record<string, string> | undefined; defaultConversion?: string },
  lookupName: string,
): NotSendable | { ok: true; action: string } {
  const action = matchConversion(settings.conversions, lookupName) ?? settings.defaultConversion
  if (!action)
    return {
      ok: false,
      code: 'GOOGLE_NO_CONVERSION_ACTION',
      message: `no conversion action configured for ${lookupName}`,
    }
  return { ok: true, action }
}

/**
 * The signal's `adUserData` / `adPersonalization` in an API's spelling of the consent statuses.
 *
 * @example googleConsent(signal, { granted: 'GRANTED', denied: 'DENIED', unspecified: 'UNSPECIFIED' })
 */
export const googleConsent = <S>(
  signal: Signal,
  statuses: Record<ConsentState, S>,
): { adUserData: S; adPersonalization: S } => ({
  adUserData: statuses[signal.consent.adUserData],
  adPersonalization: statuses[signal.consent.adPersonalization],
})

/**
 * The signal's value, and its currency upper-cased when there is a value; nothing without a finite value.
 *
 * @example googleMoney({ ...signal, value: 120, currency: 'usd' }) // { conversionValue: 120, currencyCode: 'USD' }
 */
export function googleMoney(signal: Signal): { conversionValue?: number; currencyCode?: string } {
  if (typeof signal.value !== 'number' || !Number.isFinite(signal.value)) return {}
  const currency = signal.currency ?? signal.event.currency_code
  return { conversionValue: signal.value, ...(currency ? { currencyCode: currency.toUpperCase() } : {}) }
}

/**
 * The signal's hashed identifiers (the caller's number among the phones), none without PII consent.
 *
 * @example consentedIdentifiers(signal, 'US') // { emails: ['…'], phones: ['…'], addresses: [] }
 */
export const consentedIdentifiers = (signal: Signal, defaultRegion: string): GoogleIdentifiers =>
  signal.consent.pii
    ? googleIdentifiers(signal.event.user_data, callerOf(signal), defaultRegion)
    : { emails: [], phones: [], addresses: [] }

/**
 * The first of each list, then the second of each…, at most `max`: a cap on identifiers keeps every kind.
 *
 * @example interleave([['e1', 'e2'], ['p1']], 5) // ['e1', 'p1', 'e2']
 */
export function interleave<T>(lists: T[][], max: number): T[] {
  const out: T[] = []
  for (let i = 0; out.length < max && lists.some((l) => i < l.length); i++)
    for (const l of lists) if (i < l.length && out.length < max) out.push(l[i])
  return out
}

/**
 * Customer / account ids are written `123-456-7890` in the UI; the APIs want digits only.
 *
 * @example digitsOnly('123-456-7890') // '1234567890'
 */
export const digitsOnly = (id: string): string => id.replace(/\D/g, '')

/** A `google.rpc.Status` as REST returns it under `error`. */
export interface RpcStatus {
  code?: number
  message?: string
  status?: string
  details?: Record<string, unknown>[]
}

/**
 * The `error` object of a Google REST error body, or undefined when the body is not one.
 *
 * @example parseRpcError('{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}')?.status // 'RESOURCE_EXHAUSTED'
 */
export function parseRpcError(body: string): RpcStatus | undefined {
  try {
    const json = JSON.parse(body) as { error?: unknown }
    return json.error && typeof json.error === 'object' ? (json.error as RpcStatus) : undefined
  } catch {
    return undefined
  }
}

/** `details[]` entries whose `@type` ends with `suffix` (e.g. `google.rpc.ErrorInfo`, `GoogleAdsFailure`). */
export function detailsOfType(status: RpcStatus | undefined, suffix: string): Record<string, unknown>[] {
  return (status?.details ?? []).filter(
    (d) => typeof d['@type'] === 'string' && (d['@type'] as string).endsWith(suffix),
  )
}

/** RFC 3339 in UTC without fractional seconds, e.g. `2026-06-01T12:34:56Z`. @example rfc3339(1780317296) */
export const rfc3339 = (epochS: number): string =>
  new Date(Math.floor(epochS) * 1000).toISOString().replace('.000Z', 'Z')
