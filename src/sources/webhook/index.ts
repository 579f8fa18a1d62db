/**
 * `webhook`: a call platform's JSON or form webhook (`POST /v1/sources/:name/webhook`; GET with query
 * parameters too), mapped by a field map from config, a shipped preset (ringba, retreaver, callrail,
 * invoca), or a preset overridden entry by entry.
 *
 * Auth per source: a shared token (header, Bearer or `?token=`), an HMAC of the raw body in a header
 * (CallRail: `Signature`, base64 HMAC-SHA1), and/or the IP allowlist. A source with no secret and no
 * allowlist refuses every request unless it says `auth: none`.
 *
 * One request → one `contact` event (or the disposition's event type) with the call under `ext.call`;
 * no ECAPI `id` unless the map names an `event_id` (call events deduplicate on call id + status + time).
 *
 * @example
 *   sources: { ringba: { type: webhook, preset: ringba, secret: ${RINGBA_SECRET} } }
 *   sources: { pbx: { type: webhook, secret: …, map: { call_id: callId, caller: "from | ani",
 *              duration_s: { path: billsec, transform: number }, status: { path: state, map: { up: answered } } } } }
 */
import { type Static, Type as T } from '@sinclair/typebox'
import type { CallExtension } from '../../model/call.ts'
import { type EcapiEvent, EVENT_TYPES, type EventType, type UserData } from '../../model/ecapi.ts'
import { appError } from '../../model/errors.ts'
import type { ClickIdentity } from '../../model/identity.ts'
import {
  campaignForNumber,
  checkSourceIp,
  dispositionEventType,
  header,
  invalid,
  isObj,
  rawQuery,
  requireToken,
  verifyHmac,
} from '../common.ts'
import type { CommonSourceConfig, SourceDefinition, SourceRequest } from '../contract.ts'
import { applyFieldMap, FieldMap, type Mapped, mergeMaps, sourcePointer } from './fieldmap.ts'
import { PRESET_NAMES, PRESETS, type Preset } from './presets/index.ts'

export const WebhookSourceConfig = T.Object({
  preset: T.Optional(T.Union(PRESET_NAMES.map((p) => T.Literal(p)))),
  /** Field map; with a preset, entries here override (or, with null, remove) the preset's. */
  map: T.Optional(FieldMap),
  /** Shared token, or the HMAC key when auth is hmac (CallRail's signing key). */
  secret: T.Optional(T.String({ minLength: 8 })),
  /** Default: the preset's (token for ringba/retreaver/invoca, hmac for callrail), else token. */
  auth: T.Optional(T.Union([T.Literal('token'), T.Literal('hmac'), T.Literal('none')])),
  token_header: T.Optional(T.String({ minLength: 1 })),
  /** Accept `?token=` (default true; URLs end up in logs, turn off when the platform can send headers). */
  token_param: T.Optional(T.Boolean()),
  signature_header: T.Optional(T.String({ minLength: 1 })),
  signature_algorithm: T.Optional(T.Union([T.Literal('sha1'), T.Literal('sha256')])),
  campaign: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
  /** Tracking number → campaign; wins over the payload's campaign. */
  campaigns: T.Optional(T.Record(T.String(), T.String({ minLength: 1, maxLength: 255 }))),
  /** Currency of a mapped `value` when the payload has none. */
  currency: T.Optional(T.String({ pattern: '^[A-Za-z]{3}$' })),
  event_types: T.Optional(T.Record(T.String(), T.Union(EVENT_TYPES.map((e) => T.Literal(e))))),
})
export type WebhookSourceConfig = Static<typeof WebhookSourceConfig> & CommonSourceConfig

const TERMINAL: ReadonlySet<string> = new Set(['completed', 'busy', 'no_answer', 'failed', 'canceled'])
/** Canonical fields of `ext.call` a map can fill directly. */
const CALL_FIELDS = [
  'call_id',
  'parent_call_id',
  'status',
  'sequence',
  'caller',
  'tracking_number',
  'campaign',
  'started_at',
  'answered_at',
  'ended_at',
  'duration_s',
  'disposition',
  'revenue',
  'payout',
  'predicted_value',
  'attestation',
] as const
const CLICK_FIELDS = ['gclid', 'gbraid', 'wbraid', 'fbclid', 'fbc', 'fbp', 'ttclid', 'msclkid'] as const
/** Targets that shape the event itself rather than landing in `ext.call.ext`. */
const EVENT_FIELDS = new Set(['event_id', 'timestamp', 'event_type', 'value', 'currency', 'email', 'phone'])

/**
 * Problems a config would hit at request time, for `check-config` (the schema cannot see the preset/map
 * combination). Empty when fine.
 * @example checkWebhookConfig({ type: 'webhook' }) // ['map or preset is required', …]
 */
export function checkWebhookConfig(config: WebhookSourceConfig): string[] {
  const out: string[] = []
  const map = mergeMaps(config.preset ? PRESETS[config.preset].map : undefined, config.map)
  if (!map.call_id) out.push('map.call_id: required (or choose a preset)')
  const mode = authMode(config, config.preset ? PRESETS[config.preset] : undefined)
  if (mode !== 'none' && !config.secret && !config.allow_ips?.length)
    out.push('secret: required (or allow_ips, or auth: none to accept unauthenticated requests)')
  return out
}

function authMode(config: WebhookSourceConfig, preset: Preset | undefined): 'token' | 'hmac' | 'none' {
  return config.auth ?? preset?.auth.mode ?? 'token'
}

const signedByHmac = (config: WebhookSourceConfig, preset: Preset | undefined) =>
  authMode(config, preset) === 'hmac' && config.secret !== undefined

function authenticate(req: SourceRequest, config: WebhookSourceConfig, preset: Preset | undefined): void {
  checkSourceIp(req.remoteIp, config.allow_ips)
  const mode = authMode(config, preset)
  if (mode === 'none') return
  if (!config.secret) {
    if (config.allow_ips?.length) return // the allowlist alone authenticates
    throw appError(
      'E_AUTH_MISSING',
      'webhook source has no secret configured (set secret, allow_ips or auth: none)',
    )
  }
  if (mode === 'token') {
    requireToken(req, [config.secret], {
      header: config.token_header ?? 'X-Closeloop-Token',
      param: config.token_param === false ? false : 'token',
    })
    return
  }
  const presetHmac = preset?.auth.mode === 'hmac' ? preset.auth : undefined
  const headerName = config.signature_header ?? presetHmac?.header ?? 'X-Closeloop-Signature'
  const presented = header(req, headerName)
  if (!presented) throw appError('E_SOURCE_SIGNATURE', `missing ${headerName} header`)
  const signed = req.method === 'GET' ? rawQuery(req.url) : (req.rawBody ?? '')
  const algorithm = config.signature_algorithm ?? presetHmac?.algorithm ?? 'sha256'
  if (!verifyHmac(config.secret, signed, algorithm, presented))
    throw appError(
      'E_SOURCE_SIGNATURE',
      `${headerName} does not match the ${req.method === 'GET' ? 'query string' : 'raw body'}`,
    )
}

/**
 * The payload root: the body object for POST, the query for GET or an empty POST. A signed (HMAC) POST must
 * carry its payload in the body: its signature covers the body only, and an empty body's signature (the HMAC
 * of '') once captured would sign any query.
 */
function payloadRoot(req: SourceRequest, signed: boolean): unknown {
  // an empty form body parses to {}: it is as empty as no body (Retreaver and Invoca send their values in
  // the URL of a POST too)
  const empty =
    req.body === undefined || req.body === null || req.body === '' || (req.rawBody ?? '').trim() === ''
  if (signed && req.method === 'POST' && empty)
    throw invalid('/', 'a signed POST carries its payload in the body (the signature covers only the body)')
  if (req.method === 'GET' || empty) return req.query ?? {}
  if (!isObj(req.body)) throw invalid('/', 'expected an object (one call per request)')
  return req.body
}

/**
 * The time the event describes: a mapped `timestamp`, else what the status says happened (from the call's
 * times as derived: a CallRail post-call, up to 20 minutes late, has its end from start + duration), else the
 * receive time.
 */
function eventTime(timestamp: unknown, call: CallExtension, now: number): number {
  if (typeof timestamp === 'number') return timestamp
  const status = call.status
  if (status && TERMINAL.has(status)) return call.ended_at ?? now
  if (status === 'answered') return call.answered_at ?? now
  if (status === 'initiated' || status === 'ringing') return call.started_at ?? now
  return now
}

/**
 * Builds the canonical event from mapped values (pure).
 * @example buildWebhookEvent({ call_id: 'R1', status: 'answered' }, config, 'ringba', 'ringba', now)
 */
export function buildWebhookEvent(
  m: Mapped,
  config: WebhookSourceConfig,
  name: string,
  platform: string,
  nowSeconds: number,
  callIdPointer = '/call_id',
): EcapiEvent {
  if (typeof m.call_id !== 'string') throw invalid(callIdPointer, 'required')
  const call: CallExtension = { call_id: m.call_id, platform }
  const target = call as Record<string, unknown>
  for (const f of CALL_FIELDS) if (m[f] !== undefined && f !== 'call_id') target[f] = m[f]
  const status = call.status

  // a finished call with a start and a length has an end, even when the platform does not say it
  if (status && TERMINAL.has(status) && call.ended_at === undefined && call.duration_s !== undefined) {
    const from = call.answered_at ?? call.started_at
    if (from !== undefined) call.ended_at = from + Math.round(call.duration_s)
  }
  const region = config.default_region ?? 'US'
  const campaign =
    campaignForNumber(config.campaigns, call.tracking_number, region) ?? call.campaign ?? config.campaign
  if (campaign) call.campaign = campaign

  const ext: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(m))
    if (
      !(CALL_FIELDS as readonly string[]).includes(k) &&
      !(CLICK_FIELDS as readonly string[]).includes(k) &&
      !EVENT_FIELDS.has(k)
    )
      ext[k] = v
  if (Object.keys(ext).length > 0) call.ext = ext

  const clickIds: ClickIdentity = {}
  for (const f of CLICK_FIELDS) if (typeof m[f] === 'string') clickIds[f] = m[f] as string

  const eventType: EventType =
    (m.event_type as EventType | undefined) ??
    (call.disposition ? dispositionEventType(call.disposition, config.event_types) : 'contact')
  const event: EcapiEvent = {
    data_set_id: config.data_set_id ?? name,
    timestamp: eventTime(m.timestamp, call, nowSeconds),
    event_type: eventType,
    source: 'phone_call',
    ext: Object.keys(clickIds).length > 0 ? { call, click_ids: clickIds } : { call },
  }
  if (typeof m.event_id === 'string') event.id = m.event_id
  if (typeof m.value === 'number') {
    event.value = m.value
    event.currency_code = (m.currency as string | undefined) ?? config.currency?.toUpperCase() ?? 'USD'
  } else if (typeof m.currency === 'string') {
    // the currency of the call's revenue and payout (Invoca's sale_currency with its sale_amount)
    event.currency_code = m.currency
  }
  const user: UserData = {}
  if (typeof m.email === 'string') user.email_address = m.email
  if (typeof m.phone === 'string') user.phone_numbers = m.phone
  if (Object.keys(user).length > 0) event.user_data = user
  return event
}

export const webhookSource: SourceDefinition<typeof WebhookSourceConfig> = {
  type: 'webhook',
  route: 'webhook',
  configSchema: WebhookSourceConfig,
  secrets: ['secret'],
  read(req, config, name) {
    const preset = config.preset ? PRESETS[config.preset] : undefined
    authenticate(req, config, preset)
    const map = mergeMaps(preset?.map, config.map)
    const mapped = applyFieldMap(
      map,
      {
        root: payloadRoot(req, signedByHmac(config, preset)),
        query: req.query ?? {},
        headers: req.headers ?? {},
      },
      { region: config.default_region ?? 'US' },
    )
    preset?.refine?.(mapped)
    const platform = preset?.name ?? 'webhook'
    return [
      buildWebhookEvent(
        mapped,
        config,
        name,
        platform,
        Math.floor(req.now / 1000),
        sourcePointer(map.call_id, 'call_id'),
      ),
    ]
  },
}
