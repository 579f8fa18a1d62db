/**
 * Pure payload builders for the Google Ads API `ConversionUploadService` and
 * `ConversionAdjustmentUploadService` (REST JSON, camelCase, protos of the installed `google-ads-node`).
 *
 * A signal becomes one of three rows: a `ClickConversion` (click id, or hashed email/phone only = enhanced
 * conversions for leads), a `CallConversion` (plain E.164 `callerId` + call start), or, for `correction`
 * signals, a `ConversionAdjustment` (RETRACTION / RESTATEMENT by `orderId`). Date-times are
 * `yyyy-mm-dd hh:mm:ss±hh:mm` in the account's time zone, computed from the epoch instant.
 *
 * @example
 *   const row = buildAdsRow(signal, settings)  // { ok: true, endpoint: 'click', row: { gclid, conversionAction, … } }
 */
import { toE164 } from '../../identity/phone.ts'
import type { ConsentState } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import { wallClock } from '../../model/time-zone.ts'
import {
  callerOf,
  consentedIdentifiers,
  conversionActionFor,
  conversionKind,
  conversionSubject,
  digitsOnly,
  googleClickId,
  googleConsent,
  googleMoney,
  interleave,
} from '../google/common.ts'
import { unique } from '../values.ts'

/** Google's cap on conversions (and adjustments) per upload request. */
export const ADS_MAX_ROWS = 2000
/** Google's cap on user identifiers per click conversion. */
export const ADS_MAX_IDENTIFIERS = 5
/** The longest click-through window a conversion action can have: an older click fails as EXPIRED_EVENT. */
export const ADS_CLICK_WINDOW_S = 90 * 86_400

/** Days from the signal's click to the conversion at `at`, when the click is older than Google's longest window. */
function expiredClickDays(signal: Signal, at: number): number | undefined {
  const clickedAt = signal.event.ext?.click_ids?.clicked_at
  if (clickedAt === undefined || !googleClickId(signal)) return undefined
  const age = at - clickedAt / 1000
  return age > ADS_CLICK_WINDOW_S ? Math.floor(age / 86_400) : undefined
}

/** The signal without its Google click ids: what is left to attribute it by (the caller, hashed PII). */
function withoutGoogleClick(signal: Signal): Signal {
  const { gclid: _g, gbraid: _b, wbraid: _w, ...rest } = signal.event.ext?.click_ids ?? {}
  return { ...signal, event: { ...signal.event, ext: { ...signal.event.ext, click_ids: rest } } }
}

export type AdsConsentStatus = 'GRANTED' | 'DENIED' | 'UNSPECIFIED'
export interface AdsConsent {
  adUserData: AdsConsentStatus
  adPersonalization: AdsConsentStatus
}
export type AdsUserIdentifier =
  | { userIdentifierSource: 'FIRST_PARTY'; hashedEmail: string }
  | { userIdentifierSource: 'FIRST_PARTY'; hashedPhoneNumber: string }

export interface ClickConversion {
  gclid?: string
  gbraid?: string
  wbraid?: string
  conversionAction: string
  conversionDateTime: string
  conversionValue?: number
  currencyCode?: string
  orderId: string
  userIdentifiers?: AdsUserIdentifier[]
  consent: AdsConsent
}
export interface CallConversion {
  callerId: string
  callStartDateTime: string
  conversionAction: string
  conversionDateTime: string
  conversionValue?: number
  currencyCode?: string
  consent: AdsConsent
}
export interface ConversionAdjustment {
  conversionAction: string
  adjustmentType: 'RETRACTION' | 'RESTATEMENT'
  adjustmentDateTime: string
  orderId: string
  restatementValue?: { adjustedValue: number; currencyCode?: string }
}

export type AdsEndpoint = 'click' | 'call' | 'adjustment'
export type AdsRow =
  | { ok: true; endpoint: 'click'; row: ClickConversion; lead: boolean }
  | { ok: true; endpoint: 'call'; row: CallConversion }
  | { ok: true; endpoint: 'adjustment'; row: ConversionAdjustment }
  | { ok: false; code: string; message: string }

export interface AdsSettings {
  /** Conversion-owning customer, digits only. */
  customerId: string
  /** Signal name or glob → conversion action id (digits) or resource name. */
  conversions: Record<string, string>
  defaultConversion?: string
  /** IANA time zone of the Google Ads account: `conversionDateTime` is written in it. */
  timeZone: string
  defaultRegion: string
}

const CONSENT: Record<ConsentState, AdsConsentStatus> = {
  granted: 'GRANTED',
  denied: 'DENIED',
  unspecified: 'UNSPECIFIED',
}
const consentOf = (s: Signal): AdsConsent => googleConsent(s, CONSENT)

const pad = (n: number, w = 2) => String(Math.trunc(Math.abs(n))).padStart(w, '0')

/**
 * Google Ads date-time: `yyyy-mm-dd hh:mm:ss±hh:mm`, the instant written in `timeZone` with its offset.
 * Formatting from the epoch (not by reshaping an ISO string) avoids the non-`Z` offset bug seen elsewhere.
 *
 * @example adsDateTime(1623348484, 'UTC')               // '2021-06-10 18:08:04+00:00'
 * @example adsDateTime(1571051718, 'Asia/Kolkata')      // '2019-10-14 16:45:18+05:30'
 */
export function adsDateTime(epochS: number, timeZone: string): string {
  const w = wallClock(Math.floor(epochS) * 1000, timeZone)
  const sign = w.offsetMin < 0 ? '-' : '+'
  return `${w.year}-${w.month}-${w.day} ${w.hour}:${w.minute}:${w.second}${sign}${pad(w.offsetMin / 60)}:${pad(w.offsetMin % 60)}`
}

/**
 * `customers/{cid}/conversionActions/{id}` for a configured id; a full resource name passes through.
 *
 * @example conversionActionResource('1234567890', '555') // 'customers/1234567890/conversionActions/555'
 */
export const conversionActionResource = (customerId: string, action: string): string =>
  action.startsWith('customers/') ? action : `customers/${customerId}/conversionActions/${digitsOnly(action)}`

/**
 * Hashed email and phone identifiers (the only kinds conversion uploads accept), at most 5, alternating
 * kinds so both get a chance at matching.
 *
 * @example adsUserIdentifiers(signal, 'US') // [{ userIdentifierSource: 'FIRST_PARTY', hashedEmail: '…' }, …]
 */
export function adsUserIdentifiers(signal: Signal, defaultRegion: string): AdsUserIdentifier[] {
  const ids = consentedIdentifiers(signal, defaultRegion)
  return interleave<AdsUserIdentifier>(
    [
      ids.emails.map((hashedEmail) => ({ userIdentifierSource: 'FIRST_PARTY', hashedEmail })),
      ids.phones.map((hashedPhoneNumber) => ({ userIdentifierSource: 'FIRST_PARTY', hashedPhoneNumber })),
    ],
    ADS_MAX_IDENTIFIERS,
  )
}

/**
 * One signal as one upload row, or why it cannot be sent (a permanent outcome for that job).
 *
 * @example buildAdsRow(callOnlySignal, settings) // { ok: true, endpoint: 'call', row: { callerId: '+12125550000', … } }
 */
export function buildAdsRow(original: Signal, settings: AdsSettings): AdsRow {
  const subject = conversionSubject(original)
  if (!subject.ok) return subject
  const { correction } = subject
  // a click older than any conversion action's window can only be refused (EXPIRED_EVENT, permanent, and
  // one of the day's upload operations spent): the conversion goes as if it had none, by the caller or
  // hashed PII, which Google may still match to a later click. A correction is judged as its original was
  const expiredDays = expiredClickDays(original, correction?.occurredAt ?? original.occurredAt)
  const signal = expiredDays === undefined ? original : withoutGoogleClick(original)
  const found = conversionActionFor(settings, subject.lookupName)
  if (!found.ok) return found
  const conversionAction = conversionActionResource(settings.customerId, found.action)

  if (correction) {
    // a call conversion has no orderId (CallConversion carries none) and no gclid to pair with: Google could
    // only answer CONVERSION_NOT_FOUND, so say why here instead of sending a request that cannot work
    if (conversionKind(signal) === 'call')
      return {
        ok: false,
        code: 'GOOGLE_ADS_CALL_CORRECTION_UNSUPPORTED',
        message:
          'the conversion was uploaded as a call conversion, which has no orderId to adjust by; retract or restate it in Google Ads',
      }
    const row: ConversionAdjustment = {
      conversionAction,
      adjustmentType: correction.adjustment === 'retract' ? 'RETRACTION' : 'RESTATEMENT',
      adjustmentDateTime: adsDateTime(signal.occurredAt, settings.timeZone),
      // every click / ECfL upload carries orderId = signal id, so the original is found by it
      orderId: correction.signalId,
    }
    if (correction.adjustment === 'restate') {
      const { conversionValue, currencyCode } = googleMoney(signal)
      if (conversionValue === undefined)
        return { ok: false, code: 'GOOGLE_CORRECTION_INVALID', message: 'a restatement needs the new value' }
      row.restatementValue = { adjustedValue: conversionValue, ...(currencyCode ? { currencyCode } : {}) }
    }
    return { ok: true, endpoint: 'adjustment', row }
  }

  const kind = conversionKind(signal)
  const conversionDateTime = adsDateTime(signal.occurredAt, settings.timeZone)
  if (kind === 'call') {
    const call = signal.event.ext?.call
    const start = call?.started_at ?? call?.answered_at
    const callerId = toE164(callerOf(signal), settings.defaultRegion)
    if (!signal.consent.pii)
      return {
        ok: false,
        code: 'GOOGLE_NO_IDENTIFIERS',
        message: 'no click id, and consent does not allow sending the caller id',
      }
    if (!callerId)
      return { ok: false, code: 'GOOGLE_ADS_CALLER_UNPARSEABLE', message: 'caller id is not a phone number' }
    if (start === undefined)
      return { ok: false, code: 'GOOGLE_ADS_CALL_START_UNKNOWN', message: 'the call has no start time' }
    return {
      ok: true,
      endpoint: 'call',
      row: {
        callerId,
        callStartDateTime: adsDateTime(start, settings.timeZone),
        conversionAction,
        conversionDateTime,
        ...googleMoney(signal),
        consent: consentOf(signal),
      },
    }
  }

  const click = googleClickId(signal)
  // A braid-only conversion cannot carry user identifiers (Google rejects the combination).
  const identifiers = click && !('gclid' in click) ? [] : adsUserIdentifiers(signal, settings.defaultRegion)
  if (!click && identifiers.length === 0 && expiredDays !== undefined)
    return {
      ok: false,
      code: 'GOOGLE_ADS_CLICK_EXPIRED',
      message: `the click is ${expiredDays} days older than the conversion; Google attributes clicks for at most 90 days`,
    }
  if (!click && identifiers.length === 0)
    return {
      ok: false,
      code: 'GOOGLE_NO_IDENTIFIERS',
      message: signal.consent.pii
        ? 'no click id, caller, email or phone'
        : 'no click id, and consent does not allow hashed PII',
    }
  const row: ClickConversion = {
    ...click,
    conversionAction,
    conversionDateTime,
    ...googleMoney(signal),
    // One conversion per order id per action: Google's dedup key, and what adjustments point at.
    orderId: signal.id,
    consent: consentOf(signal),
  }
  if (identifiers.length) row.userIdentifiers = identifiers
  return { ok: true, endpoint: 'click', row, lead: !click }
}

/**
 * What a conversion row gives Google to match it on, sorted: a click row's click id (`gclid`, `gbraid`,
 * `wbraid`) and user identifier kinds (`email`, `phone`), a call row's `caller_id`. Adjustments have none:
 * they point at an uploaded conversion by `orderId` and are not matched again.
 *
 * @example matchKeysOf({ gclid: 'Cj0…', userIdentifiers: [{ userIdentifierSource: 'FIRST_PARTY', hashedEmail: '…' }], … })
 *   // ['email', 'gclid']
 */
export function matchKeysOf(row: ClickConversion | CallConversion): string[] {
  if ('callerId' in row) return row.callerId ? ['caller_id'] : []
  const keys: string[] = (['gclid', 'gbraid', 'wbraid'] as const).filter((k) => row[k])
  for (const id of row.userIdentifiers ?? []) keys.push('hashedEmail' in id ? 'email' : 'phone')
  return unique(keys).sort()
}

/** Request bodies. `customerId` is bound in the URL path, so it is not repeated in the body. */
export const uploadBody = <R>(
  endpoint: AdsEndpoint,
  rows: R[],
  validateOnly: boolean,
): Record<string, unknown> => ({
  [endpoint === 'adjustment' ? 'conversionAdjustments' : 'conversions']: rows,
  // "should always be set to true": per-row results instead of all-or-nothing.
  partialFailure: true,
  ...(validateOnly ? { validateOnly: true } : {}),
})

/** REST method per endpoint. @example ADS_METHODS.call // 'uploadCallConversions' */
export const ADS_METHODS: Record<AdsEndpoint, string> = {
  click: 'uploadClickConversions',
  call: 'uploadCallConversions',
  adjustment: 'uploadConversionAdjustments',
}
