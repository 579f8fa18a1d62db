/**
 * What a non-platform destination (postback, webhook, log) may read from a signal: a flat view of the
 * macro values, and the signal with raw PII removed. Ad-platform destinations hash PII themselves.
 *
 * The caller's number is PII like an email (consent.md: partners get PII only when `pii`): without consent
 * `{caller}` is empty and the webhook body has no `ext.call.caller`, `include_pii` or not. Before, both
 * carried the raw number whatever the consent said (a review reproduced it under a sale opt-out).
 */
import type { Signal } from '../model/signal.ts'

/** Values for `{macro}` tokens. Paths into the event are resolved by `macroValue`. */
export function macroValues(
  signal: Signal,
  extra: Record<string, string> = {},
): Record<string, string | undefined> {
  const e = signal.event
  const call = e.ext?.call
  const clicks = e.ext?.click_ids
  const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v))
  return {
    signal: signal.name,
    event_id: signal.id,
    idempotency_key: signal.id,
    event_type: e.event_type,
    data_set_id: e.data_set_id,
    value: str(signal.value),
    currency: signal.currency,
    timestamp: String(signal.occurredAt),
    iso_time: new Date(signal.occurredAt * 1000).toISOString(),
    call_id: call?.call_id,
    caller: signal.consent.pii ? call?.caller : undefined,
    tracking_number: call?.tracking_number,
    campaign: call?.campaign,
    disposition: call?.disposition ?? str(signal.attrs.disposition),
    duration: str(call?.duration_s),
    revenue: str(call?.revenue),
    payout: str(call?.payout),
    click_id: clicks?.gclid ?? clicks?.fbclid ?? clicks?.msclkid ?? clicks?.ttclid ?? e.user_data?.click_id,
    gclid: clicks?.gclid,
    gbraid: clicks?.gbraid,
    wbraid: clicks?.wbraid,
    fbclid: clicks?.fbclid,
    msclkid: clicks?.msclkid,
    ttclid: clicks?.ttclid,
    transaction_id: e.properties?.transaction_id,
    corrects: str(signal.attrs.corrects),
    ...extra,
  }
}

/** `{ext.call.campaign}`, `{properties.transaction_id}`: any ext or properties field by dotted path. */
export function macroValue(
  signal: Signal,
  values: Record<string, string | undefined>,
  name: string,
): string | undefined {
  if (name in values) return values[name]
  if (name === 'ext.call.caller') return values.caller
  const [root, ...rest] = name.split('.')
  if ((root !== 'ext' && root !== 'properties') || rest.length === 0) return undefined
  let cur: unknown = (signal.event as Record<string, unknown>)[root]
  for (const part of rest) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur === undefined || cur === null || typeof cur === 'object' ? undefined : String(cur)
}

/** The signal as sent to webhooks and shown by the log destination: no raw PII unless asked for. */
export function publicSignal(signal: Signal, includePii: boolean) {
  const pii = includePii && signal.consent.pii
  const { user_data, ...rest } = signal.event
  const call = rest.ext?.call
  const event =
    call?.caller !== undefined && !pii
      ? { ...rest, ext: { ...rest.ext, call: { ...call, caller: undefined } } }
      : rest
  const keep = pii
    ? user_data
    : user_data && {
        ...(user_data.click_id ? { click_id: user_data.click_id } : {}),
        ...(user_data.mmt_only !== undefined ? { mmt_only: user_data.mmt_only } : {}),
      }
  return {
    id: signal.id,
    name: signal.name,
    occurred_at: signal.occurredAt,
    value: signal.value,
    currency: signal.currency,
    attrs: signal.attrs,
    event: { ...event, ...(keep && Object.keys(keep).length ? { user_data: keep } : {}) },
  }
}
