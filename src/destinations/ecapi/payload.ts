/**
 * Signal → outbound ECAPI 1.0 event, as pure functions: the canonical event re-shaped for the signal
 * (event_type per signal, `id` = signal id, `source`, value and currency), `user_data` re-hashed per ECAPI
 * normalization only where consent allows, the receiving partner's click id, and closeloop's own `ext`
 * without the raw call data (`ext.call.caller` is a raw phone number and never leaves unhashed).
 *
 * @example
 *   const built = buildEcapiEvent(signal, { events: {}, clickIdFrom: 'gclid' })
 *   if (built.ok) batch.push(built.event)
 *   else outcome = { kind: 'permanent', code: built.code, message: built.message }
 */

import { hashWith } from '../../identity/hash.ts'
import type { Address, EcapiEvent, UserData } from '../../model/ecapi.ts'
import { EVENT_SOURCES, EVENT_TYPES, type EventSource, type EventType } from '../../model/ecapi.ts'
import type { Signal } from '../../model/signal.ts'
import { ecapiCustomName, resolveSignal } from '../signal-map.ts'
import { list, presentKeys, scalarOrArray, unique } from '../values.ts'
import {
  ecapiCountry,
  ecapiCustomerIdHash,
  ecapiEmailHash,
  ecapiGenderHash,
  ecapiNameHash,
  ecapiPhoneHash,
  ecapiPlain,
  ecapiPostalCodeHash,
  normalizeEcapiLower,
} from './normalize.ts'

/** Click ids closeloop captures that an ECAPI partner may want as its `user_data.click_id`. */
export const CLICK_ID_SOURCES = ['gclid', 'gbraid', 'wbraid', 'fbclid', 'ttclid', 'msclkid'] as const
export type ClickIdSource = (typeof CLICK_ID_SOURCES)[number]

/** closeloop's default signal vocabulary → ECAPI `event_type` (DESIGN.md §1). */
export const DEFAULT_EVENT_TYPES: Readonly<Record<string, EventType>> = {
  call_connected: 'contact',
  qualified_call: 'qualify_lead',
  'disposition:Sale': 'close_convert_lead',
  'disposition:Qualified Lead': 'qualify_lead',
  'disposition:Appointment Set': 'schedule',
  closed_outcome: 'close_convert_lead',
}

const STANDARD_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES)

/** What a signal becomes at the partner: a standard type, or `custom` with its name. */
export type EcapiType = { event_type: EventType; custom_event?: string }

/**
 * Parse a configured mapping value: a standard ECAPI event type, or `custom:<name>`.
 *
 * @example
 *   parseEventType('schedule')            // { event_type: 'schedule' }
 *   parseEventType('custom:policy_bound') // { event_type: 'custom', custom_event: 'policy_bound' }
 */
export function parseEventType(value: string): EcapiType | undefined {
  if (value.startsWith('custom:') && value.length > 7)
    return { event_type: 'custom', custom_event: value.slice(7) }
  return STANDARD_TYPES.has(value) && value !== 'custom' ? { event_type: value as EventType } : undefined
}

/**
 * The ECAPI type for a signal: the configured map (exact name, then globs in the order written), then the
 * defaults, then, for plain ECAPI ingest, the event's own type when the signal is named after it. `""` in the
 * map means "never send this signal here". Undefined = unmapped (follow_up, correction, No Answer…).
 *
 * @example
 *   resolveEventType({ name: 'disposition:Sale', event }, {}) // { event_type: 'close_convert_lead' }
 *   resolveEventType({ name: 'disposition:Policy Bound', event }, { 'disposition:*': 'custom:policy' })
 *   // { event_type: 'custom', custom_event: 'policy' }
 */
export function resolveEventType(
  signal: Pick<Signal, 'name' | 'event'>,
  configured: Readonly<Record<string, string>> = {},
): EcapiType | undefined {
  const value = resolveSignal(signal.name, configured, DEFAULT_EVENT_TYPES, () => {
    // plain ECAPI ingest names the signal after the event: `purchase`, or `custom:<custom_event>`
    const own = signal.event.event_type as string
    if (signal.name === own && STANDARD_TYPES.has(own) && own !== 'custom') return own
    const custom = ecapiCustomName(signal)
    return custom ? `custom:${custom}` : undefined
  })
  // every value is a mapping value (`schedule`, `custom:<name>`), parsed the same wherever it came from
  return value === undefined ? undefined : parseEventType(value)
}

/** Signals that are about the call itself: always `phone_call`. CRM outcomes close a phone lead too. */
function sourceFor(signal: Pick<Signal, 'name' | 'event'>): EventSource {
  const { name, event } = signal
  if (
    name === 'call_connected' ||
    name === 'qualified_call' ||
    name === 'closed_outcome' ||
    name.startsWith('disposition:')
  )
    return 'phone_call'
  const source = event.source as string | undefined
  if (source && (EVENT_SOURCES as readonly string[]).includes(source)) return source as EventSource
  return event.ext?.call ? 'phone_call' : 'other'
}

/**
 * One address, hashed and plain fields per ECAPI; undefined when nothing is left.
 *
 * @example ecapiAddress({ first_name: ' Jane ', city: 'New York', postal_code: '10001' })
 *   // { first_name: '81f8…', city: 'new york', postal_code: 'e443…' }
 */
export function ecapiAddress(a: Address): Address | undefined {
  const country = ecapiCountry(a.country_code)
  const out: Address = {}
  const set = <K extends keyof Address>(k: K, v: Address[K] | undefined) => {
    if (v !== undefined) out[k] = v
  }
  set('first_name', ecapiNameHash(a.first_name))
  set('last_name', ecapiNameHash(a.last_name))
  set('street', ecapiNameHash(a.street))
  set('city', ecapiPlain(a.city))
  set('state', ecapiPlain(a.state))
  set('country_code', country)
  set('postal_code', ecapiPostalCodeHash(a.postal_code, country))
  if (Object.keys(out).length === 0) return undefined
  set('address_type', a.address_type)
  return out
}

export interface UserDataOptions {
  /** Region for phone numbers written without a country code. */
  phoneRegion?: string
  /** Which captured click id is this partner's `click_id`; unset = the event's own `click_id`. */
  clickIdFrom?: ClickIdSource
}

/**
 * ECAPI `user_data` for a signal. PII (email, phone, customer id, gender, age range, addresses, IPs, ifa,
 * uids, segments) only when `consent.pii`; the consent signals themselves (GPP, `mmt_only`), the partner's
 * click id, the impression id, user agents and the UTC offset always. The caller's number joins
 * `phone_numbers`.
 *
 * @example
 *   buildEcapiUserData(signal, { clickIdFrom: 'gclid' }) // { phone_numbers: '7c8d…', click_id: 'Cj0…' }
 */
export function buildEcapiUserData(
  signal: Pick<Signal, 'event' | 'consent'>,
  opts: UserDataOptions = {},
): UserData | undefined {
  const { event, consent } = signal
  const ud: UserData = event.user_data ?? {}
  const out: UserData = {}
  if (consent.pii) {
    const customerId = ecapiCustomerIdHash(ud.customer_identifier)
    if (customerId) out.customer_identifier = customerId
    const emails = scalarOrArray(unique(list(ud.email_address).map((e) => ecapiEmailHash(e))))
    if (emails) out.email_address = emails
    const phones = scalarOrArray(
      unique(
        [...list(ud.phone_numbers), event.ext?.call?.caller].map((p) => ecapiPhoneHash(p, opts.phoneRegion)),
      ),
    )
    if (phones) out.phone_numbers = phones
    const addresses = list(ud.address)
      .map(ecapiAddress)
      .filter((a): a is Address => a !== undefined)
    if (addresses.length === 1) out.address = addresses[0]
    else if (addresses.length > 1) out.address = addresses
    const gender = ecapiGenderHash(ud.gender)
    if (gender) out.gender = gender
    if (ud.age_range !== undefined) out.age_range = ud.age_range
    const uids = (ud.uids ?? []).flatMap((u) => {
      const id = hashWith(normalizeEcapiLower, u.id)
      return id ? [{ ...u, id }] : []
    })
    if (uids.length > 0) out.uids = uids
    if (ud.customer_segments !== undefined) out.customer_segments = ud.customer_segments
    if (ud.event_ip_address) out.event_ip_address = ud.event_ip_address
    if (ud.landing_ip_address) out.landing_ip_address = ud.landing_ip_address
    if (ud.ifa) out.ifa = ud.ifa
  }
  if (ud.event_user_agent) out.event_user_agent = ud.event_user_agent
  if (ud.landing_user_agent) out.landing_user_agent = ud.landing_user_agent
  if (ud.utcoffset !== undefined) out.utcoffset = ud.utcoffset
  if (ud.gpp_string) out.gpp_string = ud.gpp_string
  if (ud.gpp_sid) out.gpp_sid = ud.gpp_sid
  if (consent.mmtOnly || ud.mmt_only === true) out.mmt_only = true
  const clickId = opts.clickIdFrom ? event.ext?.click_ids?.[opts.clickIdFrom] : ud.click_id
  if (typeof clickId === 'string' && clickId.trim() !== '') out.click_id = clickId.trim()
  if (ud.impression_id) out.impression_id = ud.impression_id
  return Object.keys(out).length > 0 ? out : undefined
}

/**
 * The `user_data` fields a partner can match a person or click on. Not: `utcoffset`, `gender`, `age_range`
 * and `customer_segments` (attributes), `gpp_string`, `gpp_sid` and `mmt_only` (consent signals), and the
 * IP addresses and user agents (see `presentKeys`).
 */
export const ECAPI_MATCH_KEYS = [
  'address',
  'click_id',
  'customer_identifier',
  'email_address',
  'ifa',
  'impression_id',
  'phone_numbers',
  'uids',
] as const satisfies readonly (keyof UserData)[]

/**
 * The `user_data` fields of an outbound event the partner can match on (`ECAPI_MATCH_KEYS`), sorted.
 *
 * @example matchKeysOf({ …, user_data: { phone_numbers: '7c8d…', click_id: 'Cj0…', gpp_sid: [2] } })
 *   // ['click_id', 'phone_numbers']
 */
export function matchKeysOf(event: Pick<EcapiEvent, 'user_data'>): string[] {
  const ud = event.user_data ?? {}
  return presentKeys(Object.fromEntries(ECAPI_MATCH_KEYS.map((k) => [k, ud[k]])))
}

export interface BuildOptions extends UserDataOptions {
  /** Configured `events` map (signal glob → event type or `custom:<name>`). */
  events?: Readonly<Record<string, string>>
  /** Overrides the signal's data set: the partner's namespace for (`data_set_id`, `id`) dedup. */
  dataSetId?: string
  /** Marks the event `ext.closeloop.test` (test mode). */
  test?: boolean
}

export type BuildResult = { ok: true; event: EcapiEvent } | { ok: false; code: string; message: string }

/**
 * One signal as an ECAPI event, or why it must not be sent (a permanent outcome).
 *
 * `id` is the signal id: stable across retries (the partner merges on `data_set_id` + `id`) and distinct per
 * signal, so a call's `contact` and its `close_convert_lead` never merge into one record (ecapi.md §5).
 *
 * @example
 *   buildEcapiEvent(signal, {}) // { ok: true, event: { data_set_id: 'acme', id: 'sig-1', event_type: 'contact', … } }
 */
export function buildEcapiEvent(signal: Signal, opts: BuildOptions = {}): BuildResult {
  const type = resolveEventType(signal, opts.events)
  if (!type)
    return {
      ok: false,
      code: 'ECAPI_SIGNAL_NOT_MAPPED',
      message: `signal "${signal.name}" has no ECAPI event_type (add it to this destination's events map)`,
    }
  const e = signal.event
  const event: EcapiEvent = {
    data_set_id: opts.dataSetId ?? (signal.dataSetId || e.data_set_id),
    id: signal.id,
    timestamp: Math.trunc(signal.occurredAt),
    event_type: type.event_type,
  }
  if (type.custom_event) event.custom_event = type.custom_event
  const ud = buildEcapiUserData(signal, opts)
  if (ud) event.user_data = ud
  const value = signal.value ?? e.value
  const currency = signal.currency ?? e.currency_code
  if (typeof value === 'number' && Number.isFinite(value)) event.value = value
  if (currency) event.currency_code = currency.toUpperCase()
  event.source = sourceFor(signal)
  if (e.properties && Object.keys(e.properties).length > 0) event.properties = e.properties
  const call = e.ext?.call
  // closeloop facts a partner may report on; never the caller's raw number (PII outside user_data)
  const closeloop: Record<string, unknown> = { signal: signal.name }
  if (call?.call_id) closeloop.call_id = call.call_id
  if (call?.campaign) closeloop.campaign = call.campaign
  if (call?.duration_s !== undefined) closeloop.duration_s = call.duration_s
  const disposition = call?.disposition ?? signal.attrs.disposition
  if (typeof disposition === 'string') closeloop.disposition = disposition
  if (opts.test) closeloop.test = true
  // ECAPI's `ext` is open; the canonical type only names closeloop's inbound keys
  event.ext = { closeloop } as EcapiEvent['ext']
  const invalid = validateEcapiEvent(event)
  return invalid ? { ok: false, ...invalid } : { ok: true, event }
}

/**
 * The spec's conditional requirements, checked before sending (the partner "may discard" such records
 * silently, so a 200 would hide the loss).
 *
 * @example validateEcapiEvent({ …, value: 10 }) // { code: 'ECAPI_CURRENCY_MISSING', … }
 */
export function validateEcapiEvent(event: EcapiEvent): { code: string; message: string } | undefined {
  if (!event.data_set_id)
    return { code: 'ECAPI_DATA_SET_MISSING', message: 'no data_set_id (set data_set_id in this destination)' }
  if (!Number.isInteger(event.timestamp) || event.timestamp <= 0)
    return { code: 'ECAPI_TIMESTAMP_INVALID', message: `timestamp ${event.timestamp} is not Unix seconds` }
  if (event.value !== undefined && event.currency_code === undefined)
    return {
      code: 'ECAPI_CURRENCY_MISSING',
      message: 'ECAPI requires currency_code when value is set (the partner may discard the record)',
    }
  if (event.currency_code !== undefined && !/^[A-Z]{3}$/.test(event.currency_code))
    return {
      code: 'ECAPI_CURRENCY_INVALID',
      message: `currency "${event.currency_code}" is not an ISO 4217 code`,
    }
  return undefined
}

/** How events travel: one per request (the body is the event), or `{ "<key>": [...] }`. */
export type Envelope = { mode: 'single' } | { mode: 'batch'; key: string }

/**
 * The request body for one request's events.
 *
 * @example
 *   requestBody([a], { mode: 'single' })              // JSON of a
 *   requestBody([a, b], { mode: 'batch', key: 'events' }) // '{"events":[a,b]}'
 */
export function requestBody(events: EcapiEvent[], envelope: Envelope): string {
  if (envelope.mode === 'single') {
    if (events.length !== 1) throw new Error('single envelope carries exactly one event')
    return JSON.stringify(events[0])
  }
  return JSON.stringify({ [envelope.key]: events })
}
