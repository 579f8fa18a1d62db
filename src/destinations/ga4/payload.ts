/**
 * Signal → GA4 Measurement Protocol event, as pure functions: event-name mapping, the request-level identity
 * (`client_id`, `user_id`, `user_data`, `consent`) that every event of one request shares, `params`, and
 * the checks GA4 would otherwise fail silently (the live endpoint answers 2xx to anything).
 *
 * @example
 *   const built = buildGa4Hit(signal, { nowMs: Date.now() })
 *   if (built.ok) requests.add(built.hit) // group by built.hit.key, ≤ 25 events per request
 */
import { createHash } from 'node:crypto'
import { googleEmailHash, googlePhoneHash, googleRegionCode } from '../../identity/google.ts'
import { hashWith, isSha256 } from '../../identity/hash.ts'
import type { Address, UserData } from '../../model/ecapi.ts'
import type { ConsentState } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import { ecapiCustomName, resolveSignal } from '../signal-map.ts'
import { list, presentKeys, unique } from '../values.ts'

/** GA4's cap on events per Measurement Protocol request. */
export const GA4_MAX_EVENTS = 25
/** GA4's caps: params per event, string parameter values (names: `GA4_NAME`). */
export const GA4_MAX_PARAMS = 25
export const GA4_MAX_PARAM_VALUE = 100
/** `timestamp_micros` may backdate an event by at most 72 hours. */
export const GA4_MAX_AGE_S = 72 * 3600
/** Events dated ahead of GA4's clock are rejected; a minute covers clock skew. */
export const GA4_MAX_FUTURE_S = 60
/** Values per user-provided-data list GA4 accepts: "up to 3 for phone and email and 2 for address" (uid-data guide). */
export const GA4_MAX_USER_DATA_VALUES = 3
export const GA4_MAX_ADDRESSES = 2

/** Event names GA4 reserves for its own collection (Measurement Protocol reference). */
export const RESERVED_EVENT_NAMES: ReadonlySet<string> = new Set([
  'ad_activeview',
  'ad_activity',
  'ad_click',
  'ad_exposure',
  'ad_query',
  'ad_reward',
  'adunit_exposure',
  'app_clear_data',
  'app_exception',
  'app_install',
  'app_remove',
  'app_store_refund',
  'app_store_subscription_cancel',
  'app_store_subscription_convert',
  'app_store_subscription_renew',
  'app_update',
  'app_upgrade',
  'dynamic_link_app_open',
  'dynamic_link_app_update',
  'dynamic_link_first_open',
  'error',
  'firebase_campaign',
  'firebase_in_app_message_action',
  'firebase_in_app_message_dismiss',
  'firebase_in_app_message_impression',
  'first_open',
  'first_visit',
  'in_app_purchase',
  'notification_dismiss',
  'notification_foreground',
  'notification_open',
  'notification_receive',
  'notification_send',
  'os_update',
  'session_start',
  'user_engagement',
])
/** Parameter and event name prefixes GA4 reserves. */
export const RESERVED_PREFIXES = ['google_', 'ga_', 'firebase_'] as const
/** Letters, digits, underscores, starting with a letter, at most 40 characters. */
export const GA4_NAME = /^[A-Za-z][A-Za-z0-9_]{0,39}$/

/**
 * closeloop's signals → GA4's recommended lead-generation events, so they land in GA4's lead funnel reports
 * (generate_lead → working_lead → qualify_lead → close_convert_lead). GA4 has no appointment event; an
 * appointment is a lead being worked.
 */
export const DEFAULT_EVENT_NAMES: Readonly<Record<string, string>> = {
  call_connected: 'generate_lead',
  qualified_call: 'qualify_lead',
  'disposition:Sale': 'close_convert_lead',
  'disposition:Qualified Lead': 'qualify_lead',
  'disposition:Appointment Set': 'working_lead',
  closed_outcome: 'close_convert_lead',
}

/** ECAPI types whose GA4 name differs (ECAPI's `viewed_*` are GA4's `view_*`). */
const ECAPI_TO_GA4: Readonly<Record<string, string>> = { viewed_item: 'view_item', viewed_cart: 'view_cart' }

/**
 * Whether GA4 accepts an event name (pattern, not reserved, no reserved prefix).
 *
 * @example validEventName('qualify_lead') // true;  validEventName('first_visit') // false
 */
export function validEventName(name: string): boolean {
  return (
    GA4_NAME.test(name) &&
    !RESERVED_EVENT_NAMES.has(name) &&
    !RESERVED_PREFIXES.some((p) => name.startsWith(p))
  )
}

/**
 * The GA4 event name for a signal: the configured map (exact, then globs in the order written), then the
 * defaults, then, for plain ECAPI ingest, the event's own type (renamed where GA4 differs) or its custom name.
 * `""` in the map means "never send". Undefined = unmapped.
 *
 * @example
 *   resolveEventName({ name: 'qualified_call', event }) // 'qualify_lead'
 *   resolveEventName({ name: 'closed_outcome', event }, { closed_outcome: 'purchase' }) // 'purchase'
 */
export function resolveEventName(
  signal: Pick<Signal, 'name' | 'event'>,
  configured: Readonly<Record<string, string>> = {},
): string | undefined {
  return resolveSignal(signal.name, configured, DEFAULT_EVENT_NAMES, () => {
    const own = signal.event.event_type as string
    if (signal.name === own && own !== 'custom') return ECAPI_TO_GA4[own] ?? own
    return ecapiCustomName(signal)
  })
}

// ---------------------------------------------------------------------------------------------------------
// identity

/**
 * The GA4 `client_id` from a `_ga` cookie value (`GA1.1.123456789.1700000000` → `123456789.1700000000`) or
 * a bare client id.
 *
 * @example clientIdFromCookie('GA1.1.123456789.1700000000') // '123456789.1700000000'
 */
export function clientIdFromCookie(raw: string): string | undefined {
  const s = raw.trim()
  const cookie = /^GA\d\.\d+\.(\d+\.\d+)$/.exec(s)
  if (cookie) return cookie[1]
  return /^\d+\.\d+$/.test(s) ? s : undefined
}

/**
 * The web visitor's GA client id (or captured `visitor_id`) when the click capture recorded one: a client id
 * that matches a GA4 user, unlike the one derived from the call.
 *
 * @example capturedClientId({ event: { ext: { click_ids: { ga: 'GA1.1.42.1700000000' } } } }) // '42.1700000000'
 */
export function capturedClientId(signal: Pick<Signal, 'event'>): string | undefined {
  const ids = (signal.event.ext?.click_ids ?? {}) as Record<string, unknown>
  for (const key of ['ga_client_id', 'ga', '_ga']) {
    const v = ids[key]
    const id = typeof v === 'string' ? clientIdFromCookie(v) : undefined
    if (id) return id
  }
  const visitor = ids.visitor_id
  if (typeof visitor === 'string' && visitor.trim() !== '')
    return visitor.trim().slice(0, GA4_MAX_PARAM_VALUE)
  return undefined
}

/**
 * `client_id`: the web visitor's GA client id when the click capture recorded one (`ext.click_ids.ga_client_id`
 * or the `_ga` cookie as `ext.click_ids.ga`), else the captured `visitor_id`, else a stable id derived from the
 * call (or the event): `<32-bit hash>.<seconds>`, GA's own shape, identical on every retry and every signal of
 * the same call, so a call's funnel events are one GA4 "user".
 *
 * @example
 *   ga4ClientId(signal) // '<uint32 of sha256("call:CA1")>.<call start, Unix s>' when no GA id was captured
 */
export function ga4ClientId(signal: Pick<Signal, 'event' | 'eventId' | 'occurredAt'>): string {
  const captured = capturedClientId(signal)
  if (captured) return captured
  const call = signal.event.ext?.call
  const basis = call?.call_id ? `call:${call.call_id}` : `event:${signal.eventId}`
  const n = createHash('sha256').update(basis).digest().readUInt32BE(0)
  const seconds = call?.started_at ?? call?.answered_at ?? signal.event.timestamp ?? signal.occurredAt
  return `${n}.${Math.trunc(seconds)}`
}

/** GA4's user-provided data, Google-normalized and hashed (plain city/region/postal code/country). */
export interface Ga4UserData {
  sha256_email_address?: string[]
  sha256_phone_number?: string[]
  address?: Ga4Address[]
}

export interface Ga4Address {
  sha256_first_name?: string
  sha256_last_name?: string
  sha256_street?: string
  city?: string
  region?: string
  postal_code?: string
  country?: string
}

/** City / region in the clear: lowercase, letters and spaces only, trimmed (Google's MP guide; hashes dropped). */
function plainPlace(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === null) return undefined
  const s = String(raw).trim()
  if (s === '' || isSha256(s)) return undefined
  const out = s
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\s]/gu, '')
    .replace(/\s+/g, ' ')
    .trim()
  return out === '' ? undefined : out
}

/** Postal code in the clear: `.` and `~` removed, trimmed; a hash cannot be un-hashed. */
function plainPostal(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === null) return undefined
  const s = String(raw).replace(/[.~]/g, '').trim()
  return s === '' || isSha256(s) ? undefined : s
}

/**
 * GA4's own address rules (uid-data guide), not the Ads API's: a name loses its digits and symbols, a street
 * its symbols; lowercased and trimmed. The Ads rules kept `ct.` and `#2` in a street and digits in a name, so
 * the hashes matched nothing in GA4 (a review found it). An already-hashed value passes through (`hashWith`).
 *
 * @example ga4NameHash(' Jane2 ') === sha256Hex('jane')
 */
const ga4Normalize = (drop: RegExp) => (s: string) =>
  s.toLowerCase().replace(drop, '').replace(/\s+/g, ' ').trim()
const ga4NameHash = (raw: string | undefined) => hashWith(ga4Normalize(/[^\p{L}\s]/gu), raw)
const ga4StreetHash = (raw: string | undefined) => hashWith(ga4Normalize(/[^\p{L}\p{N}\s]/gu), raw)

/**
 * One address for GA4: names and street hashed GA4's way, the rest in the clear.
 *
 * @example ga4Address({ first_name: 'Jane', city: 'New York', country_code: 'US' })
 *   // { sha256_first_name: sha('jane'), city: 'new york', country: 'US' }
 */
export function ga4Address(a: Address): Ga4Address | undefined {
  const out: Ga4Address = {}
  const put = <K extends keyof Ga4Address>(k: K, v: string | undefined) => {
    if (v) out[k] = v
  }
  put('sha256_first_name', ga4NameHash(a.first_name))
  put('sha256_last_name', ga4NameHash(a.last_name))
  put('sha256_street', ga4StreetHash(a.street))
  put('city', plainPlace(a.city))
  put('region', plainPlace(a.state))
  put('postal_code', plainPostal(a.postal_code))
  // ISO 3166-1 alpha-2, as the guide asks (its example sends `US`)
  put('country', googleRegionCode(a.country_code)?.toUpperCase())
  return Object.keys(out).length > 0 ? out : undefined
}

/**
 * GA4 `user_data` (user-provided data) for a signal, only when consent allows PII; the caller's number joins
 * the phones. At most 3 emails, 3 phones and 2 addresses.
 *
 * @example buildGa4UserData(signal) // { sha256_email_address: ['…'], sha256_phone_number: ['…'] }
 */
export function buildGa4UserData(
  signal: Pick<Signal, 'event' | 'consent'>,
  phoneRegion = 'US',
): Ga4UserData | undefined {
  if (!signal.consent.pii) return undefined
  const ud: UserData = signal.event.user_data ?? {}
  const out: Ga4UserData = {}
  const emails = unique(list(ud.email_address).map((e) => googleEmailHash(e))).slice(
    0,
    GA4_MAX_USER_DATA_VALUES,
  )
  if (emails.length) out.sha256_email_address = emails
  const phones = unique(
    [...list(ud.phone_numbers), signal.event.ext?.call?.caller].map((p) => googlePhoneHash(p, phoneRegion)),
  ).slice(0, GA4_MAX_USER_DATA_VALUES)
  if (phones.length) out.sha256_phone_number = phones
  const addresses = list(ud.address)
    .map(ga4Address)
    .filter((a): a is Ga4Address => a !== undefined)
    .slice(0, GA4_MAX_ADDRESSES)
  if (addresses.length) out.address = addresses
  return Object.keys(out).length > 0 ? out : undefined
}

/** GA4's consent values; `unspecified` leaves the field out so GA4 applies the property's default. */
export function ga4Consent(
  adUserData: ConsentState,
  adPersonalization: ConsentState,
): Ga4Consent | undefined {
  const v = (s: ConsentState) => (s === 'granted' ? 'GRANTED' : s === 'denied' ? 'DENIED' : undefined)
  const out: Ga4Consent = {}
  const a = v(adUserData)
  const p = v(adPersonalization)
  if (a) out.ad_user_data = a
  if (p) out.ad_personalization = p
  return Object.keys(out).length > 0 ? out : undefined
}

export interface Ga4Consent {
  ad_user_data?: 'GRANTED' | 'DENIED'
  ad_personalization?: 'GRANTED' | 'DENIED'
}

// ---------------------------------------------------------------------------------------------------------
// events and requests

export type Ga4ParamValue = string | number
export interface Ga4Event {
  name: string
  params: Record<string, Ga4ParamValue>
}

/** What every event of one request shares. */
export interface Ga4Identity {
  client_id: string
  user_id?: string
  user_data?: Ga4UserData
  consent?: Ga4Consent
}

export interface Ga4RequestBody extends Ga4Identity {
  timestamp_micros: number
  events: Ga4Event[]
}

/** One signal, ready to join a request whose identity has the same `key`. */
export interface Ga4Hit {
  key: string
  identity: Ga4Identity
  /** `identity.client_id` is the visitor's captured GA id, not one derived from the call (not sent). */
  clientIdCaptured: boolean
  timestampMicros: number
  event: Ga4Event
}

export interface BuildOptions {
  /** Configured `events` map (signal glob → GA4 event name, `""` = never). */
  events?: Readonly<Record<string, string>>
  /** Send `user_data.customer_identifier` as `user_id` (consented signals only). */
  sendUserId?: boolean
  phoneRegion?: string
  nowMs: number
}

export type BuildResult = { ok: true; hit: Ga4Hit } | { ok: false; code: string; message: string }

/** Call signals are about a phone lead: `lead_source` says so (a recommended lead-event parameter). */
const isCallSignal = (s: Pick<Signal, 'name' | 'event'>) =>
  ['call_connected', 'qualified_call', 'closed_outcome'].includes(s.name) ||
  s.name.startsWith('disposition:') ||
  s.event.ext?.call !== undefined

/**
 * One signal as a GA4 event with its request identity, or why it must not be sent (a permanent outcome).
 * `transaction_id` is the transaction id when the event has one, else the signal id: GA4 deduplicates
 * purchases on it, so a retried `purchase` is not counted twice.
 *
 * @example
 *   buildGa4Hit(signal, { nowMs }) // { ok: true, hit: { event: { name: 'generate_lead', params: { … } }, … } }
 */
export function buildGa4Hit(signal: Signal, opts: BuildOptions): BuildResult {
  const name = resolveEventName(signal, opts.events)
  if (!name)
    return {
      ok: false,
      code: 'GA4_SIGNAL_NOT_MAPPED',
      message: `signal "${signal.name}" has no GA4 event name (add it to this destination's events map)`,
    }
  if (!validEventName(name))
    return {
      ok: false,
      code: 'GA4_EVENT_NAME_INVALID',
      message: `"${name}" is not a GA4 event name (letters, digits, _; ≤ 40; not reserved)`,
    }
  const params: Record<string, Ga4ParamValue> = {}
  const value = signal.value ?? signal.event.value
  const currency = signal.currency ?? signal.event.currency_code
  if (typeof value === 'number' && Number.isFinite(value)) params.value = value
  if (currency) params.currency = currency.toUpperCase()
  params.transaction_id = (signal.event.properties?.transaction_id ?? signal.id).slice(0, GA4_MAX_PARAM_VALUE)
  if (isCallSignal(signal)) params.lead_source = 'phone_call'
  const call = signal.event.ext?.call
  // not `campaign`: GA4 reads that name as traffic-source attribution
  if (call?.campaign) params.call_campaign = call.campaign.slice(0, GA4_MAX_PARAM_VALUE)
  if (typeof call?.duration_s === 'number') params.call_duration_s = Math.round(call.duration_s)
  // without engagement time GA4 leaves MP-only users out of its user counts (documented MP advice)
  params.engagement_time_msec = 1

  const identity: Ga4Identity = { client_id: ga4ClientId(signal) }
  const customerId = signal.event.user_data?.customer_identifier
  if (opts.sendUserId && signal.consent.pii && customerId && !isSha256(customerId))
    identity.user_id = customerId.trim().slice(0, 256)
  // GA4 ignores user_data without a user_id ("must be present whenever user_data is provided"): sent
  // alone, it matched nothing while the match keys counted it
  const userData = identity.user_id ? buildGa4UserData(signal, opts.phoneRegion) : undefined
  if (userData) identity.user_data = userData
  const consent = ga4Consent(signal.consent.adUserData, signal.consent.adPersonalization)
  if (consent) identity.consent = consent

  const hit: Ga4Hit = {
    key: JSON.stringify(identity),
    identity,
    clientIdCaptured: capturedClientId(signal) !== undefined,
    timestampMicros: Math.trunc(ga4Time(signal, opts.nowMs)) * 1_000_000,
    event: { name, params },
  }
  const invalid = validateGa4Hit(hit, opts.nowMs)
  return invalid ? { ok: false, ...invalid } : { ok: true, hit }
}

/**
 * What a hit's request identity gives GA4 to match the event to a user, sorted: `client_id` when it is the
 * visitor's captured GA id (one derived from the call matches no one), `user_id`, and the `user_data` fields
 * (`sha256_email_address`, `sha256_phone_number`, `address`; only sent with consent).
 *
 * @example matchKeysOf({ clientIdCaptured: false, identity: { client_id: '…', user_data: { sha256_phone_number: ['…'] } } })
 *   // ['sha256_phone_number']
 */
export function matchKeysOf(hit: Pick<Ga4Hit, 'identity' | 'clientIdCaptured'>): string[] {
  const { client_id, user_id, user_data } = hit.identity
  const keys = presentKeys({ client_id: hit.clientIdCaptured ? client_id : undefined, user_id })
  return [...keys, ...presentKeys(user_data ?? {})].sort()
}

/**
 * The event's time for GA4: when it happened, unless that is past GA4's 72 h of backdating, then when
 * closeloop derived it. A CRM outcome reported days after the sale was dead-lettered as too old; dated
 * at its derivation it still counts (GA4 reports it on the day received), as ga4.md says.
 */
function ga4Time(signal: Pick<Signal, 'occurredAt' | 'createdAt'>, nowMs: number): number {
  const nowS = nowMs / 1000
  if (nowS - signal.occurredAt <= GA4_MAX_AGE_S) return signal.occurredAt
  return Math.floor(signal.createdAt / 1000)
}

/**
 * What GA4 would silently drop, checked before sending.
 *
 * @example validateGa4Hit(fourDaysOldHit, Date.now()) // { code: 'GA4_EVENT_TOO_OLD', … }
 */
export function validateGa4Hit(hit: Ga4Hit, nowMs: number): { code: string; message: string } | undefined {
  const nowS = Math.floor(nowMs / 1000)
  const ts = hit.timestampMicros / 1_000_000
  if (!Number.isFinite(ts) || ts <= 0)
    return { code: 'GA4_TIMESTAMP_INVALID', message: `timestamp ${ts} is not Unix seconds` }
  if (nowS - ts > GA4_MAX_AGE_S)
    return {
      code: 'GA4_EVENT_TOO_OLD',
      message: `event is ${Math.floor((nowS - ts) / 3600)} h old; GA4 backdates at most ${GA4_MAX_AGE_S / 3600} h`,
    }
  if (ts - nowS > GA4_MAX_FUTURE_S)
    return { code: 'GA4_EVENT_IN_FUTURE', message: `event is ${ts - nowS} s in the future` }
  const p = hit.event.params
  if (p.value !== undefined && p.currency === undefined)
    return {
      code: 'GA4_CURRENCY_MISSING',
      message: 'GA4 needs currency with value (revenue is dropped without it)',
    }
  if (p.currency !== undefined && !/^[A-Z]{3}$/.test(String(p.currency)))
    return { code: 'GA4_CURRENCY_INVALID', message: `currency "${p.currency}" is not an ISO 4217 code` }
  return undefined
}

/**
 * Requests for a list of hits: hits sharing an identity and a timestamp go together (a request has one
 * `timestamp_micros`), at most 25 events per request, in the order first seen.
 *
 * @example groupRequests([h1, h2]) // [{ indexes: [0, 1], body: { client_id, timestamp_micros, events: [e1, e2] } }]
 */
export function groupRequests(
  hits: Array<{ index: number; hit: Ga4Hit }>,
  max = GA4_MAX_EVENTS,
): Array<{ indexes: number[]; body: Ga4RequestBody }> {
  const byKey = new Map<string, Array<{ index: number; hit: Ga4Hit }>>()
  for (const h of hits) {
    const key = `${h.hit.timestampMicros}|${h.hit.key}`
    const group = byKey.get(key)
    if (group) group.push(h)
    else byKey.set(key, [h])
  }
  const out: Array<{ indexes: number[]; body: Ga4RequestBody }> = []
  for (const group of byKey.values())
    for (let i = 0; i < group.length; i += max) {
      const chunk = group.slice(i, i + max)
      out.push({
        indexes: chunk.map((c) => c.index),
        body: {
          ...chunk[0].hit.identity,
          timestamp_micros: chunk[0].hit.timestampMicros,
          events: chunk.map((c) => c.hit.event),
        },
      })
    }
  return out
}
