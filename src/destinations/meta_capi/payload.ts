/**
 * Signal → Meta CAPI server event, as pure functions: event-name mapping, `action_source`, `user_data`
 * (Meta-normalized SHA-256 PII only where consent allows), `custom_data`, consent flags, and the pre-send
 * validation that keeps one bad event from sinking a batch (Meta rejects the whole request for it).
 *
 * @example
 *   const built = buildServerEvent(signal, { events: {}, nowMs: Date.now() })
 *   if (built.ok) body.data.push(built.event)
 *   else outcome = { kind: 'permanent', code: built.code, message: built.message }
 */
import { buildFbc, hashMetaAll, type MetaHashedKey, type MetaHashOptions } from '../../identity/meta.ts'
import type { Address, UserData } from '../../model/ecapi.ts'
import type { Signal } from '../../model/signal.ts'
import { resolveSignal } from '../signal-map.ts'
import { list, presentKeys } from '../values.ts'

export interface MetaUserData {
  em?: string[]
  ph?: string[]
  fn?: string[]
  ln?: string[]
  ge?: string[]
  db?: string[]
  ct?: string[]
  st?: string[]
  zp?: string[]
  country?: string[]
  external_id?: string[]
  client_ip_address?: string
  client_user_agent?: string
  fbc?: string
  fbp?: string
}

export interface MetaCustomData {
  value?: number
  currency?: string
  order_id?: string
  event_source?: string
  lead_event_source?: string
}

export interface MetaServerEvent {
  event_name: string
  event_time: number
  event_id: string
  action_source: string
  user_data: MetaUserData
  custom_data?: MetaCustomData
  event_source_url?: string
  opt_out?: boolean
  data_processing_options?: string[]
  data_processing_options_country?: number
  data_processing_options_state?: number
}

export interface MetaRequestBody {
  data: MetaServerEvent[]
  test_event_code?: string
  appsecret_proof?: string
}

// ---------------------------------------------------------------------------------------------------------
// event names

/** closeloop's default signal vocabulary (DESIGN.md §1) and the ECAPI event types Meta has a standard event for. */
export const DEFAULT_EVENT_NAMES: Readonly<Record<string, string>> = {
  call_connected: 'Contact',
  qualified_call: 'Lead',
  'disposition:Sale': 'Purchase',
  'disposition:Qualified Lead': 'Lead',
  'disposition:Appointment Set': 'Schedule',
  closed_outcome: 'Purchase',
  // plain ECAPI ingest: event_type → Meta standard event
  purchase: 'Purchase',
  generate_lead: 'Lead',
  qualify_lead: 'Lead',
  close_convert_lead: 'Purchase',
  contact: 'Contact',
  schedule: 'Schedule',
  sign_up: 'CompleteRegistration',
  subscribe: 'Subscribe',
  start_trial: 'StartTrial',
  add_to_cart: 'AddToCart',
  add_to_wishlist: 'AddToWishlist',
  add_payment_info: 'AddPaymentInfo',
  begin_checkout: 'InitiateCheckout',
  viewed_item: 'ViewContent',
  search: 'Search',
  page_view: 'PageView',
  customize_product: 'CustomizeProduct',
  donate: 'Donate',
  find_location: 'FindLocation',
}

/**
 * The Meta `event_name` for a signal: the configured map first (exact key, then globs in the order written),
 * then the defaults; an ECAPI `custom` event uses its `custom_event` name. An empty string in the configured
 * map means "never send this signal to Meta". Undefined = unmapped.
 *
 * @example
 *   resolveEventName('disposition:Sale', {})                         // 'Purchase'
 *   resolveEventName('disposition:Policy Bound', { 'disposition:*': 'Purchase' }) // 'Purchase'
 */
export function resolveEventName(
  signalName: string,
  configured: Readonly<Record<string, string>> = {},
  customEvent?: string,
): string | undefined {
  return resolveSignal(signalName, configured, DEFAULT_EVENT_NAMES, () =>
    // plain ECAPI custom events arrive as `custom:<name>` (pipeline/signal.ts ecapiSignalName)
    (signalName === 'custom' || signalName.startsWith('custom:')) && customEvent ? customEvent : undefined,
  )
}

// ---------------------------------------------------------------------------------------------------------
// action_source

/** The `action_source` values Meta's SDKs validate against, plus ECAPI's `business_messaging` (unverified). */
export const META_ACTION_SOURCES = [
  'email',
  'website',
  'app',
  'phone_call',
  'chat',
  'physical_store',
  'system_generated',
  'other',
  'business_messaging',
] as const

/**
 * Call signals are `phone_call`; CRM stages (closed outcome, corrections) are `system_generated` (Meta's
 * Conversion Leads integration); a plain ECAPI event keeps its `source`, else `phone_call` if it carries a
 * call, else `other`.
 *
 * @example
 *   actionSourceFor({ name: 'closed_outcome', … }) // 'system_generated'
 */
export function actionSourceFor(signal: Pick<Signal, 'name' | 'event'>): string {
  const { name, event } = signal
  if (name === 'call_connected' || name === 'qualified_call' || name.startsWith('disposition:'))
    return 'phone_call'
  if (name === 'closed_outcome' || name === 'correction') return 'system_generated'
  const source = event.source
  if (source && (META_ACTION_SOURCES as readonly string[]).includes(source)) return source
  return event.ext?.call ? 'phone_call' : 'other'
}

// ---------------------------------------------------------------------------------------------------------
// user_data

/** An `fbc` value already in cookie form: `fb.<subdomain index>.<ms>.<fbclid>`. */
const FBC_SHAPE = /^fb\.\d\.\d{10,16}\..+/

function putHashed(
  out: MetaUserData,
  key: MetaHashedKey,
  values: Array<string | undefined | null>,
  opts: MetaHashOptions,
) {
  const hashed = hashMetaAll(key, values, opts)
  if (hashed.length > 0) out[key] = hashed
}

/**
 * Meta `user_data` for a signal. Hashed keys (and the IP address) are sent only when `consent.pii`; the
 * click identifiers `fbc`/`fbp` and the user agent are pseudonymous and always sent. The caller's phone from
 * `ext.call.caller` joins `phone_numbers`. `fbc` is built from `fbclid` + click time when only the id is known.
 *
 * @example
 *   buildUserData(signal, { phoneRegion: 'US' }) // { ph: ['d4b7…'], fbc: 'fb.1.1746558000000.IwAR…' }
 */
export function buildUserData(
  signal: Pick<Signal, 'event' | 'consent'>,
  opts: MetaHashOptions = {},
): MetaUserData {
  const { event, consent } = signal
  const ud: UserData = event.user_data ?? {}
  const out: MetaUserData = {}
  if (consent.pii) {
    putHashed(out, 'em', list(ud.email_address), opts)
    putHashed(out, 'ph', [...list(ud.phone_numbers), event.ext?.call?.caller], opts)
    const addresses: Address[] = list(ud.address)
    putHashed(
      out,
      'fn',
      addresses.map((a) => a.first_name),
      opts,
    )
    putHashed(
      out,
      'ln',
      addresses.map((a) => a.last_name),
      opts,
    )
    putHashed(
      out,
      'ct',
      addresses.map((a) => a.city),
      opts,
    )
    putHashed(
      out,
      'st',
      addresses.map((a) => a.state),
      opts,
    )
    putHashed(
      out,
      'zp',
      addresses.map((a) => a.postal_code),
      opts,
    )
    putHashed(
      out,
      'country',
      addresses.map((a) => a.country_code),
      opts,
    )
    putHashed(out, 'ge', list(ud.gender), opts)
    // ECAPI has no birth date; a source may carry one under user_data.ext.date_of_birth
    const dob = ud.ext?.date_of_birth
    putHashed(out, 'db', typeof dob === 'string' ? [dob] : [], opts)
    putHashed(out, 'external_id', list(ud.customer_identifier), opts)
    if (ud.event_ip_address) out.client_ip_address = ud.event_ip_address
  }
  if (ud.event_user_agent) out.client_user_agent = ud.event_user_agent
  const clicks = event.ext?.click_ids
  const fbc =
    clicks?.fbc ??
    // the click time when captured; else the event time: deterministic across retries, and never earlier than
    // the click it stands for by more than the call's own delay
    (clicks?.fbclid ? buildFbc(clicks.fbclid, clicks.clicked_at ?? event.timestamp * 1000) : undefined) ??
    (ud.click_id && FBC_SHAPE.test(ud.click_id) ? ud.click_id : undefined)
  if (fbc) out.fbc = fbc
  if (clicks?.fbp) out.fbp = clicks.fbp
  return out
}

/**
 * The `user_data` keys an event gives Meta to match it on, sorted: every key `buildUserData` writes
 * (hashed PII and external id only with consent; `fbc` and `fbp` always) but the IP address and the user
 * agent (see `presentKeys`).
 *
 * @example matchKeysOf({ user_data: { ph: ['d4b7…'], fbc: 'fb.1.…', client_user_agent: 'Mozilla/5.0' } })
 *   // ['fbc', 'ph']
 */
export const matchKeysOf = (event: Pick<MetaServerEvent, 'user_data'>): string[] =>
  presentKeys(event.user_data, ['client_ip_address', 'client_user_agent'])

// ---------------------------------------------------------------------------------------------------------
// the event

export interface BuildOptions extends MetaHashOptions {
  /** Configured `events` map (signal glob → Meta event name). */
  events?: Readonly<Record<string, string>>
  /** CRM name for Conversion Leads (`custom_data.lead_event_source`) on `system_generated` events. */
  crmName?: string
  /** Now, epoch ms: the reference for the 7-day window. */
  nowMs: number
}

export type BuildResult = { ok: true; event: MetaServerEvent } | { ok: false; code: string; message: string }

/**
 * One signal as a Meta server event, or the reason it must not be sent (a permanent outcome).
 *
 * @example
 *   buildServerEvent(signal, { nowMs: Date.now() }) // { ok: true, event: { event_name: 'Contact', … } }
 */
export function buildServerEvent(signal: Signal, opts: BuildOptions): BuildResult {
  const eventName = resolveEventName(signal.name, opts.events, signal.event.custom_event)
  if (!eventName)
    return {
      ok: false,
      code: 'META_SIGNAL_NOT_MAPPED',
      message: `signal "${signal.name}" has no Meta event name (add it to this destination's events map)`,
    }
  const actionSource = actionSourceFor(signal)
  const event: MetaServerEvent = {
    event_name: eventName,
    event_time: Math.trunc(signal.occurredAt),
    event_id: signal.id,
    action_source: actionSource,
    user_data: buildUserData(signal, opts),
  }
  const custom = buildCustomData(signal, actionSource, opts.crmName)
  if (custom) event.custom_data = custom
  const pageUrl = signal.event.properties?.page_url
  if (actionSource === 'website' && pageUrl) event.event_source_url = pageUrl
  if (signal.consent.mmtOnly || signal.event.user_data?.mmt_only === true) event.opt_out = true
  if (signal.consent.ldu) {
    event.data_processing_options = ['LDU']
    // 0/0 = "Meta, geolocate the person" (Meta's documented setting when the state is not known)
    event.data_processing_options_country = 0
    event.data_processing_options_state = 0
  }
  const invalid = validateServerEvent(event, opts.nowMs)
  return invalid ? { ok: false, ...invalid } : { ok: true, event }
}

function buildCustomData(signal: Signal, actionSource: string, crmName?: string): MetaCustomData | undefined {
  const out: MetaCustomData = {}
  const value = signal.value ?? signal.event.value
  const currency = signal.currency ?? signal.event.currency_code
  if (typeof value === 'number' && Number.isFinite(value)) out.value = value
  if (currency) out.currency = currency.toUpperCase()
  const orderId = signal.event.properties?.transaction_id
  if (orderId) out.order_id = orderId
  if (actionSource === 'system_generated' && crmName) {
    // Meta's Conversion Leads integration identifies CRM uploads by these two fields
    out.event_source = 'crm'
    out.lead_event_source = crmName
  }
  return Object.keys(out).length > 0 ? out : undefined
}

// ---------------------------------------------------------------------------------------------------------
// validation

/** Meta rejects a request holding any event older than this (and physical_store events older than 62 days). */
export const MAX_AGE_S = 7 * 24 * 3600
const MAX_AGE_PHYSICAL_STORE_S = 62 * 24 * 3600
/** Meta accepts event_time up to about a minute ahead (clock skew). */
export const MAX_FUTURE_S = 60

/**
 * The checks Meta applies to a whole request, applied per event before batching so a bad event is
 * dead-lettered alone. Returns the permanent reason, or undefined when the event is sendable.
 *
 * @example
 *   validateServerEvent({ …, event_time: 0 }, Date.now()) // { code: 'META_EVENT_TOO_OLD', message: … }
 */
export function validateServerEvent(
  event: MetaServerEvent,
  nowMs: number,
): { code: string; message: string } | undefined {
  const now = Math.floor(nowMs / 1000)
  const maxAge = event.action_source === 'physical_store' ? MAX_AGE_PHYSICAL_STORE_S : MAX_AGE_S
  if (!Number.isInteger(event.event_time) || event.event_time <= 0)
    return { code: 'META_EVENT_TIME_INVALID', message: `event_time ${event.event_time} is not Unix seconds` }
  if (now - event.event_time > maxAge)
    return {
      code: 'META_EVENT_TOO_OLD',
      message: `event_time ${event.event_time} is ${Math.floor((now - event.event_time) / 86400)} days old; Meta accepts at most ${maxAge / 86400} days`,
    }
  if (event.event_time - now > MAX_FUTURE_S)
    return {
      code: 'META_EVENT_IN_FUTURE',
      message: `event_time ${event.event_time} is ${event.event_time - now} s in the future; Meta accepts at most ${MAX_FUTURE_S} s`,
    }
  if (Object.keys(event.user_data).length === 0)
    return {
      code: 'META_NO_USER_DATA',
      message: 'no user_data key to match on (no consented PII, no fbc/fbp/user agent)',
    }
  const cd = event.custom_data
  if (cd?.currency !== undefined && !/^[A-Z]{3}$/.test(cd.currency))
    return { code: 'META_CURRENCY_INVALID', message: `currency "${cd.currency}" is not an ISO 4217 code` }
  if (event.event_name === 'Purchase' && (cd?.value === undefined || cd.currency === undefined))
    return {
      code: 'META_PURCHASE_VALUE_MISSING',
      message: 'Meta requires custom_data.value and currency for Purchase',
    }
  if (event.action_source === 'website' && (!event.event_source_url || !event.user_data.client_user_agent))
    return {
      code: 'META_WEBSITE_FIELDS_MISSING',
      message: 'website events need event_source_url and client_user_agent',
    }
  return undefined
}
