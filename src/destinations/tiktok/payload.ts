/**
 * Signal → TikTok Events API 2.0 event, as pure functions: event-name mapping, `user` (TikTok-normalized
 * SHA-256 PII only where consent allows; `ttclid`, `ttp` and the user agent always), `properties`, and the
 * checks that keep one bad event from failing a request.
 *
 * @example
 *   const built = buildTikTokEvent(signal, { nowMs: Date.now() })
 *   if (built.ok) body.data.push(built.event)
 */
import { hashWith } from '../../identity/hash.ts'
import { toE164 } from '../../identity/phone.ts'
import type { UserData } from '../../model/ecapi.ts'
import type { Signal } from '../../model/signal.ts'
import { ecapiCustomName, resolveSignal } from '../signal-map.ts'
import { list, presentKeys, scalarOrArray, unique } from '../values.ts'

/** Events per request TikTok accepts in `data`. */
export const TIKTOK_MAX_EVENTS = 1000
/** Events older than this are refused before sending (TikTok's window for web events; unverified for offline). */
export const TIKTOK_MAX_AGE_S = 7 * 24 * 3600
/** A minute ahead covers clock skew. */
export const TIKTOK_MAX_FUTURE_S = 60

export const EVENT_SOURCES = ['web', 'app', 'offline', 'crm'] as const
export type TikTokEventSource = (typeof EVENT_SOURCES)[number]

export interface TikTokUser {
  email?: string | string[]
  phone?: string | string[]
  external_id?: string | string[]
  ttclid?: string
  ttp?: string
  ip?: string
  user_agent?: string
}

export interface TikTokProperties {
  value?: number
  currency?: string
  order_id?: string
  content_type?: string
}

export interface TikTokEvent {
  event: string
  event_time: number
  event_id: string
  user: TikTokUser
  properties?: TikTokProperties
  page?: { url: string; referrer?: string }
  limited_data_use?: boolean
}

export interface TikTokRequestBody {
  event_source: TikTokEventSource
  event_source_id: string
  data: TikTokEvent[]
  test_event_code?: string
}

/**
 * closeloop's signals → TikTok standard events. `CompletePayment` is TikTok's long-standing purchase event;
 * `Lead` and `Schedule` are newer standard events (their acceptance on offline event sets is unverified).
 */
export const DEFAULT_EVENT_NAMES: Readonly<Record<string, string>> = {
  call_connected: 'Contact',
  qualified_call: 'Lead',
  'disposition:Sale': 'CompletePayment',
  'disposition:Qualified Lead': 'Lead',
  'disposition:Appointment Set': 'Schedule',
  closed_outcome: 'CompletePayment',
  // plain ECAPI ingest
  purchase: 'CompletePayment',
  close_convert_lead: 'CompletePayment',
  generate_lead: 'SubmitForm',
  qualify_lead: 'Lead',
  contact: 'Contact',
  schedule: 'Schedule',
  sign_up: 'CompleteRegistration',
  subscribe: 'Subscribe',
  add_to_cart: 'AddToCart',
  add_to_wishlist: 'AddToWishlist',
  add_payment_info: 'AddPaymentInfo',
  begin_checkout: 'InitiateCheckout',
  viewed_item: 'ViewContent',
  search: 'Search',
}

/**
 * The TikTok event for a signal: configured map (exact, then globs in order), then the defaults, then an
 * ECAPI custom event's name. `""` = never send; undefined = unmapped.
 *
 * @example
 *   resolveEventName({ name: 'disposition:Sale', event }) // 'CompletePayment'
 */
export function resolveEventName(
  signal: Pick<Signal, 'name' | 'event'>,
  configured: Readonly<Record<string, string>> = {},
): string | undefined {
  return resolveSignal(signal.name, configured, DEFAULT_EVENT_NAMES, () => ecapiCustomName(signal))
}

// ---------------------------------------------------------------------------------------------------------
// user

/**
 * Email: trim, lowercase (TikTok's rule; no gmail dot removal).
 *
 * @example normalizeTikTokEmail(' Jane.Doe@Gmail.com ') // 'jane.doe@gmail.com'
 */
export const normalizeTikTokEmail = (raw: string): string => {
  const s = raw.trim().toLowerCase()
  return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(s) ? s : ''
}

/**
 * Phone: E.164 with `+` (national numbers read in `defaultRegion`); '' when not a phone number.
 *
 * @example normalizeTikTokPhone('(212) 555-0000') // '+12125550000'
 */
export function normalizeTikTokPhone(raw: string, defaultRegion = 'US'): string {
  try {
    return toE164(raw, defaultRegion) ?? ''
  } catch {
    // an unknown default region throws in libphonenumber; no number rather than a wrong one
    return ''
  }
}

/**
 * external_id: trimmed, case kept, hashed: an advertiser id must hash the same on pixel and server, and
 * TikTok's own server-side template hashes it without lowercasing (`hash(external_id, false)`), so a
 * lowercased `CRM-AbC123` matched nothing it sent.
 */
export const normalizeTikTokExternalId = (raw: string): string => raw.trim()

/**
 * TikTok `user` for a signal. Email, phone, external id and IP only when `consent.pii`; `ttclid`, `ttp` and
 * the user agent (pseudonymous) always. The caller's number joins the phones.
 *
 * @example buildTikTokUser(signal) // { email: '…', phone: '…', ttclid: 'E.C.P…', user_agent: '…' }
 */
export function buildTikTokUser(signal: Pick<Signal, 'event' | 'consent'>, phoneRegion = 'US'): TikTokUser {
  const { event, consent } = signal
  const ud: UserData = event.user_data ?? {}
  const out: TikTokUser = {}
  if (consent.pii) {
    const email = scalarOrArray(unique(list(ud.email_address).map((e) => hashWith(normalizeTikTokEmail, e))))
    if (email) out.email = email
    const phone = scalarOrArray(
      unique(
        [...list(ud.phone_numbers), event.ext?.call?.caller].map((p) =>
          hashWith((s) => normalizeTikTokPhone(s, phoneRegion), p),
        ),
      ),
    )
    if (phone) out.phone = phone
    const externalId = hashWith(normalizeTikTokExternalId, ud.customer_identifier)
    if (externalId) out.external_id = externalId
    if (ud.event_ip_address) out.ip = ud.event_ip_address
  }
  const clicks = (event.ext?.click_ids ?? {}) as Record<string, unknown>
  if (typeof clicks.ttclid === 'string' && clicks.ttclid.trim() !== '') out.ttclid = clicks.ttclid.trim()
  // the TikTok pixel's first-party cookie, when the click capture recorded it
  if (typeof clicks.ttp === 'string' && clicks.ttp.trim() !== '') out.ttp = clicks.ttp.trim()
  if (ud.event_user_agent) out.user_agent = ud.event_user_agent
  return out
}

/**
 * The `user` keys an event gives TikTok to match it on, sorted: every key `buildTikTokUser` writes (email,
 * phone and external_id only with consent; ttclid and ttp always) but `ip` and `user_agent` (see
 * `presentKeys`).
 *
 * @example matchKeysOf({ user: { ttclid: 'E.C.P…', email: '…', user_agent: 'Mozilla/5.0' } })
 *   // ['email', 'ttclid']
 */
export const matchKeysOf = (event: Pick<TikTokEvent, 'user'>): string[] =>
  presentKeys(event.user, ['ip', 'user_agent'])

// ---------------------------------------------------------------------------------------------------------
// the event

export interface BuildOptions {
  events?: Readonly<Record<string, string>>
  phoneRegion?: string
  nowMs: number
}

export type BuildResult = { ok: true; event: TikTokEvent } | { ok: false; code: string; message: string }

/** TikTok's purchase-like events, which need a value and currency to report revenue. */
const VALUE_EVENTS = new Set(['CompletePayment', 'Purchase', 'PlaceAnOrder'])

/**
 * One signal as a TikTok event, or why it must not be sent (a permanent outcome). `event_id` is the signal
 * id: TikTok deduplicates on it (with the event name) across pixel and server.
 *
 * @example
 *   buildTikTokEvent(signal, { nowMs: Date.now() }) // { ok: true, event: { event: 'Contact', … } }
 */
export function buildTikTokEvent(signal: Signal, opts: BuildOptions): BuildResult {
  const name = resolveEventName(signal, opts.events)
  if (!name)
    return {
      ok: false,
      code: 'TIKTOK_SIGNAL_NOT_MAPPED',
      message: `signal "${signal.name}" has no TikTok event (add it to this destination's events map)`,
    }
  const event: TikTokEvent = {
    event: name,
    event_time: Math.trunc(signal.occurredAt),
    event_id: signal.id,
    user: buildTikTokUser(signal, opts.phoneRegion),
  }
  const props: TikTokProperties = {}
  const value = signal.value ?? signal.event.value
  const currency = signal.currency ?? signal.event.currency_code
  if (typeof value === 'number' && Number.isFinite(value)) props.value = value
  if (currency) props.currency = currency.toUpperCase()
  const orderId = signal.event.properties?.transaction_id
  if (orderId) props.order_id = orderId
  if (Object.keys(props).length > 0) event.properties = props
  const pageUrl = signal.event.properties?.page_url
  if (pageUrl) event.page = { url: pageUrl }
  if (signal.consent.ldu) event.limited_data_use = true
  const invalid = validateTikTokEvent(event, opts.nowMs)
  return invalid ? { ok: false, ...invalid } : { ok: true, event }
}

/**
 * The checks applied before batching, so one bad event does not fail a request.
 *
 * @example validateTikTokEvent({ …, user: {} }, now) // { code: 'TIKTOK_NO_USER', … }
 */
export function validateTikTokEvent(
  event: TikTokEvent,
  nowMs: number,
): { code: string; message: string } | undefined {
  const now = Math.floor(nowMs / 1000)
  if (!Number.isInteger(event.event_time) || event.event_time <= 0)
    return {
      code: 'TIKTOK_EVENT_TIME_INVALID',
      message: `event_time ${event.event_time} is not Unix seconds`,
    }
  if (now - event.event_time > TIKTOK_MAX_AGE_S)
    return {
      code: 'TIKTOK_EVENT_TOO_OLD',
      message: `event is ${Math.floor((now - event.event_time) / 86400)} days old; TikTok takes at most 7 days`,
    }
  if (event.event_time - now > TIKTOK_MAX_FUTURE_S)
    return {
      code: 'TIKTOK_EVENT_IN_FUTURE',
      message: `event_time is ${event.event_time - now} s in the future`,
    }
  if (Object.keys(event.user).length === 0)
    return {
      code: 'TIKTOK_NO_USER',
      message: 'no user key to match on (no consented PII, no ttclid/ttp/user agent)',
    }
  const p = event.properties
  if (p?.value !== undefined && p.currency === undefined)
    return { code: 'TIKTOK_CURRENCY_MISSING', message: 'value needs a currency' }
  if (p?.currency !== undefined && !/^[A-Z]{3}$/.test(p.currency))
    return { code: 'TIKTOK_CURRENCY_INVALID', message: `currency "${p.currency}" is not an ISO 4217 code` }
  if (VALUE_EVENTS.has(event.event) && p?.value === undefined)
    return { code: 'TIKTOK_VALUE_MISSING', message: `${event.event} needs properties.value and currency` }
  return undefined
}
