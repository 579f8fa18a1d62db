/**
 * `postback`: agent dispositions and conversions from call centers and buyers
 * (`GET or POST /v1/sources/:name/postback`, query, form or JSON).
 *
 * Parameters: `call_id` (required), `disposition`, `value` + `currency`, `revenue`, `payout`,
 * `predicted_value`, `event_id`, `caller`, `campaign`, `duration_s`, `timestamp`, and click ids (`gclid`,
 * `gbraid`, `wbraid`, `fbclid`, `fbc`, `fbp`, `ttclid`, `msclkid`). A network with fixed names is mapped with
 * `params` (`{ call_id: "subid | call_uuid" }`).
 *
 * Auth, all configured checks must pass: a token (`X-Closeloop-Token`, `Authorization: Bearer`, or a `token`
 * parameter), an HMAC of the raw body (or, for GET, the raw query string) in a header, an IP allowlist. With
 * an HMAC, a POST's fields come from its body alone.
 * A source with none of the three refuses every request: a postback URL alone is forgeable
 * (telephony-and-postbacks.md §4, Prosper202).
 *
 * @example
 *   GET /v1/sources/callcenter/postback?token=…&call_id=CA123&disposition=Sale&value=250&currency=USD
 *   → [{ event_type: 'close_convert_lead', value: 250, currency_code: 'USD',
 *        ext: { call: { call_id: 'CA123', disposition: 'Sale', platform: 'postback' } } }]
 */
import { type Static, Type as T } from '@sinclair/typebox'
import { toE164 } from '../../identity/phone.ts'
import type { CallExtension } from '../../model/call.ts'
import { type EcapiEvent, EVENT_TYPES, type EventType } from '../../model/ecapi.ts'
import { appError } from '../../model/errors.ts'
import type { ClickIdentity } from '../../model/identity.ts'
import {
  checkSourceIp,
  dispositionEventType,
  header,
  invalid,
  isObj,
  type Obj,
  parseEpochSeconds,
  parseMoney,
  parseSeconds,
  pointer,
  rawQuery,
  requireToken,
  verifyHmac,
} from '../common.ts'
import type { CommonSourceConfig, SourceDefinition, SourceRequest } from '../contract.ts'

export const CLICK_ID_FIELDS = [
  'gclid',
  'gbraid',
  'wbraid',
  'fbclid',
  'fbc',
  'fbp',
  'ttclid',
  'msclkid',
] as const

export const PostbackSourceConfig = T.Object({
  /** Shared token the sender presents. */
  token: T.Optional(T.String({ minLength: 8 })),
  /** Header carrying the bare token (besides `Authorization: Bearer`). */
  token_header: T.Optional(T.String({ default: 'X-Closeloop-Token' })),
  /** Accept the token as a `token` query/body parameter (URLs end up in logs; turn off when the sender can set headers). */
  token_param: T.Optional(T.Boolean({ default: true })),
  /** HMAC key: the sender signs the raw body (POST) or the raw query string (GET). */
  hmac_secret: T.Optional(T.String({ minLength: 16 })),
  hmac_header: T.Optional(T.String({ default: 'X-Closeloop-Signature' })),
  hmac_algorithm: T.Optional(T.Union([T.Literal('sha256'), T.Literal('sha1')], { default: 'sha256' })),
  /** Currency of `value` when the sender does not say. */
  currency: T.Optional(T.String({ pattern: '^[A-Za-z]{3}$', default: 'USD' })),
  campaign: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
  /** Canonical parameter → the sender's name(s), alternatives separated by `|`. */
  params: T.Optional(T.Record(T.String(), T.String({ minLength: 1 }))),
  /** Disposition (as sent) → ECAPI event type, over the shipped defaults. */
  event_types: T.Optional(T.Record(T.String(), T.Union(EVENT_TYPES.map((e) => T.Literal(e))))),
})
export type PostbackSourceConfig = Static<typeof PostbackSourceConfig> & CommonSourceConfig

/** Longest identifier or label kept; the model caps call ids and dispositions at 255. */
const MAX_TEXT = 255

/**
 * Query and body parameters in one map; body wins, the query fills gaps (a token in the URL, data in the body).
 * A signed POST (`hmac_secret`) is read from its body alone: the signature covers the body, not the URL, and
 * a captured signed body re-sent with `?value=250000&gclid=…` must not gain those fields.
 */
function collect(req: SourceRequest, signed: boolean): Obj {
  const out: Obj = Object.create(null)
  const hasBody = req.body !== undefined && req.body !== null && req.body !== ''
  if (req.method === 'POST' && hasBody) {
    if (!isObj(req.body)) throw invalid('/', 'expected an object (form fields or a JSON object)')
    for (const [k, v] of Object.entries(req.body)) out[k] = v
  }
  if (signed && req.method === 'POST') {
    if (!hasBody)
      throw invalid('/', 'a signed POST carries its fields in the body (the signature covers only the body)')
    return out
  }
  for (const [k, v] of Object.entries(req.query ?? {})) if (!(k in out)) out[k] = v
  return out
}

type Reader = {
  /** The value under the canonical name (or its configured aliases), with the name it was found under. */
  get(field: string): { name: string; value: unknown } | undefined
}

function reader(fields: Obj, aliases: Record<string, string> | undefined): Reader {
  return {
    get(field) {
      const names = (aliases?.[field] ?? field).split('|').map((n) => n.trim())
      for (const name of names) {
        if (!Object.hasOwn(fields, name)) continue
        const value = fields[name]
        if (value === undefined || value === null || value === '') continue
        return { name, value }
      }
      return undefined
    },
  }
}

/** A present field as text: non-scalars and over-long strings are 400s naming the field. */
function text(r: Reader, field: string, max = MAX_TEXT): string | undefined {
  const hit = r.get(field)
  if (!hit) return undefined
  const v = Array.isArray(hit.value) && hit.value.length === 1 ? hit.value[0] : hit.value
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
    throw invalid(pointer(hit.name), 'expected a string')
  const s = String(v).trim()
  if (s === '') return undefined
  if (s.length > max) throw invalid(pointer(hit.name), `at most ${max} characters`)
  return s
}

/**
 * A phone number as a postback may carry it: a SIP URI's user part (`sip:+12125550000@carrier;user=phone`),
 * else the text; over 64 characters or unreadable, none (a 400 here lost the sale it came with).
 */
function phoneOf(raw: string | undefined, region: string): string | undefined {
  const user = raw?.replace(/^sips?:/i, '').split(/[@;]/)[0]
  return user && user.length <= 64 ? toE164(user, region) : undefined
}

function parsed<V>(
  r: Reader,
  field: string,
  parse: (v: string) => V | undefined,
  expected: string,
): V | undefined {
  const raw = text(r, field, 64)
  if (raw === undefined) return undefined
  const v = parse(raw)
  if (v === undefined) throw invalid(pointer(r.get(field)?.name ?? field), expected)
  return v
}

function authenticate(req: SourceRequest, config: PostbackSourceConfig): void {
  checkSourceIp(req.remoteIp, config.allow_ips)
  const hasIps = (config.allow_ips?.length ?? 0) > 0
  if (!config.token && !config.hmac_secret && !hasIps)
    throw appError('E_AUTH_MISSING', 'postback source has no token, hmac_secret or allow_ips configured')
  if (config.token)
    requireToken(req, [config.token], {
      header: config.token_header ?? 'X-Closeloop-Token',
      param: config.token_param === false ? false : 'token',
    })
  if (config.hmac_secret) {
    const presented = header(req, config.hmac_header ?? 'X-Closeloop-Signature')
    if (!presented)
      throw appError('E_SOURCE_SIGNATURE', `missing ${config.hmac_header ?? 'X-Closeloop-Signature'} header`)
    const signed = req.method === 'GET' ? rawQuery(req.url) : (req.rawBody ?? '')
    if (!verifyHmac(config.hmac_secret, signed, config.hmac_algorithm ?? 'sha256', presented))
      throw appError(
        'E_SOURCE_SIGNATURE',
        `signature does not match the ${req.method === 'GET' ? 'query string' : 'raw body'}`,
      )
  }
}

/**
 * Maps postback parameters to one canonical event (pure; no authentication).
 * @example mapPostback({ call_id: 'CA1', disposition: 'Sale' }, config, 'cc', now) // event_type close_convert_lead
 */
export function mapPostback(
  fields: Obj,
  config: PostbackSourceConfig,
  name: string,
  nowSeconds: number,
): EcapiEvent {
  const r = reader(fields, config.params)
  const region = config.default_region ?? 'US'
  const call_id = text(r, 'call_id')
  if (!call_id) throw invalid('/call_id', 'required')
  const disposition = text(r, 'disposition')
  const money = (f: string) => parsed(r, f, parseMoney, 'expected an amount')
  const value = money('value')
  const revenue = money('revenue')
  const payout = money('payout')
  const predicted = money('predicted_value')
  if (!disposition && value === undefined && revenue === undefined && payout === undefined)
    throw invalid('/disposition', 'a disposition or an amount (value, revenue, payout) is required')
  const currency = parsed(
    r,
    'currency',
    (s) => (/^[A-Za-z]{3}$/.test(s) ? s.toUpperCase() : undefined),
    'expected an ISO 4217 code',
  )
  const timestamp =
    parsed(r, 'timestamp', parseEpochSeconds, 'expected epoch seconds or an ISO 8601 date') ?? nowSeconds
  const duration = parsed(
    r,
    'duration_s',
    (s) => {
      const n = parseSeconds(s)
      return n !== undefined && n <= 864000 ? n : undefined
    },
    'expected seconds (0–864000)',
  )
  const eventId = text(r, 'event_id')
  // an unreadable caller number is not worth losing a sale over: the call id is the join key
  const caller = phoneOf(text(r, 'caller', MAX_TEXT), region)

  const call: CallExtension = { call_id, platform: 'postback' }
  if (disposition) call.disposition = disposition
  if (revenue !== undefined) call.revenue = revenue
  if (payout !== undefined) call.payout = payout
  if (predicted !== undefined) call.predicted_value = predicted
  if (caller) call.caller = caller
  // the number the caller dialled: a DNI pool number joins the call to the visitor it was shown to
  const tracking = phoneOf(text(r, 'tracking_number', MAX_TEXT), region)
  if (tracking) call.tracking_number = tracking
  if (duration !== undefined) call.duration_s = duration
  const campaign = text(r, 'campaign') ?? config.campaign
  if (campaign) call.campaign = campaign

  const clickIds: ClickIdentity = {}
  for (const f of CLICK_ID_FIELDS) {
    const v = text(r, f, 600)
    if (v) clickIds[f] = v
  }

  const eventType: EventType = disposition
    ? dispositionEventType(disposition, config.event_types)
    : 'close_convert_lead' // an amount with no disposition is a conversion report
  const event: EcapiEvent = {
    data_set_id: config.data_set_id ?? name,
    timestamp,
    event_type: eventType,
    source: 'phone_call',
    ext: Object.keys(clickIds).length > 0 ? { call, click_ids: clickIds } : { call },
  }
  if (eventId) event.id = eventId
  if (value !== undefined) {
    event.value = value
    event.currency_code = currency ?? config.currency?.toUpperCase() ?? 'USD'
  }
  return event
}

/**
 * Problems the schema cannot see, for `check-config`; each message starts with the field name.
 * @example checkPostbackConfig({ type: 'postback' }) // ['token: required (or hmac_secret, or allow_ips) …']
 */
export function checkPostbackConfig(config: PostbackSourceConfig): string[] {
  if (config.token || config.hmac_secret || config.allow_ips?.length) return []
  return ['token: required (or hmac_secret, or allow_ips): without one the source refuses every request']
}

export const postbackSource: SourceDefinition<typeof PostbackSourceConfig> = {
  type: 'postback',
  route: 'postback',
  configSchema: PostbackSourceConfig,
  secrets: ['token', 'hmac_secret'],
  read(req, config, name) {
    authenticate(req, config)
    return [
      mapPostback(collect(req, config.hmac_secret !== undefined), config, name, Math.floor(req.now / 1000)),
    ]
  },
}
