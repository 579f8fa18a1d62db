/**
 * A local stand-in for the GA4 Measurement Protocol, on a real socket (127.0.0.1, random port), for tests.
 * It behaves like GA4 where closeloop depends on it:
 * - `POST /mp/collect?measurement_id=…&api_secret=…` answers **204 to everything**, like GA4: a valid request's
 *   events are `accepted`, an invalid one (or a wrong secret) is `dropped` with the reasons, silently;
 * - `POST /debug/mp/collect` (the validation server) answers 200 `{ "validationMessages": [...] }` with
 *   `fieldPath`, `description` and `validationCode` (`VALUE_REQUIRED`, `VALUE_INVALID`, `NAME_INVALID`,
 *   `NAME_RESERVED`, `VALUE_OUT_OF_BOUNDS`, `EXCEEDED_MAX_ENTITIES`) and records nothing;
 * - checks: known measurement id and its secret, `client_id` (web streams), `timestamp_micros` within 72 h,
 *   1–25 events, event and parameter names (pattern, 40 chars, reserved names and prefixes), ≤ 25 params,
 *   string values ≤ 100 chars, `consent` values, body ≤ 130 kB. Stricter than GA4 on purpose: every
 *   `sha256_*` field must be 64 lowercase hex (so raw PII fails loudly), and the debug server reports a wrong
 *   secret (whether GA4's does is unverified).
 * Faults (429, 5xx, raw) are queued with `inject` and consumed one per request.
 *
 * @example
 *   const ga = await startMockGa4({ streams: { 'G-TEST123': 'secret' } })
 *   // destination config: { base_url: ga.url, measurement_id: 'G-TEST123', api_secret: 'secret', allow_private: true }
 */
import { createServer } from 'node:http'
import { listenLocal, readBody } from '../testing/mock-http.ts'
import type { ValidationMessage } from './errors.ts'
import {
  GA4_MAX_ADDRESSES,
  GA4_MAX_AGE_S,
  GA4_MAX_EVENTS,
  GA4_MAX_PARAM_VALUE,
  GA4_MAX_PARAMS,
  GA4_MAX_USER_DATA_VALUES,
  GA4_NAME,
  RESERVED_EVENT_NAMES,
  RESERVED_PREFIXES,
} from './payload.ts'

export type Ga4Fault =
  | { kind: 'throttle'; retryAfterS?: number }
  | { kind: 'server_error'; status?: number }
  | { kind: 'raw'; status: number; body: string; headers?: Record<string, string> }

export interface Ga4Request {
  path: string
  query: Record<string, string>
  body: unknown
  status: number
}

export interface AcceptedGa4Event {
  measurementId: string
  clientId: string
  userId?: string
  timestampMicros?: number
  userData?: unknown
  consent?: unknown
  event: { name: string; params?: Record<string, unknown> }
}

export interface MockGa4 {
  url: string
  requests: Ga4Request[]
  accepted: AcceptedGa4Event[]
  /** Requests the live endpoint swallowed, with why. */
  dropped: Array<{ body: unknown; messages: ValidationMessage[] }>
  inject(fault: Ga4Fault): void
  close(): Promise<void>
}

export interface MockGa4Options {
  /** measurement id → its API secret. */
  streams?: Record<string, string>
  now?: () => number
}

/** GA4's request body cap. */
const MAX_BODY = 130 * 1024
const HEX64 = /^[a-f0-9]{64}$/
/** GA4 accepts events dated a little ahead of its clock; 15 min here (GA4's exact tolerance is unverified). */
const MAX_FUTURE_S = 15 * 60

export async function startMockGa4(opts: MockGa4Options = {}): Promise<MockGa4> {
  const streams = opts.streams ?? { 'G-TEST123': 'test-secret' }
  const now = opts.now ?? Date.now
  const faults: Ga4Fault[] = []
  const requests: Ga4Request[] = []
  const accepted: AcceptedGa4Event[] = []
  const dropped: Array<{ body: unknown; messages: ValidationMessage[] }> = []

  const server = createServer(async (req, res) => {
    // read a little past the cap so an oversized body is reported, not cut into valid JSON
    const raw = await readBody(req, MAX_BODY * 2)
    const url = new URL(req.url ?? '/', 'http://ga4.local')
    const query = Object.fromEntries(url.searchParams)
    let body: unknown
    try {
      body = JSON.parse(raw)
    } catch {
      body = undefined
    }
    const record: Ga4Request = { path: url.pathname, query, body, status: 0 }
    requests.push(record)
    const answer = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      record.status = status
      if (payload === undefined) {
        res.writeHead(status, headers)
        return res.end()
      }
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(typeof payload === 'string' ? payload : JSON.stringify(payload))
    }
    const debug = url.pathname === '/debug/mp/collect'
    if (req.method !== 'POST' || (!debug && url.pathname !== '/mp/collect')) return answer(404, 'Not Found')

    const fault = faults.shift()
    if (fault) {
      switch (fault.kind) {
        case 'throttle':
          return answer(
            429,
            undefined,
            fault.retryAfterS === undefined ? {} : { 'retry-after': String(fault.retryAfterS) },
          )
        case 'server_error':
          return answer(fault.status ?? 503, undefined)
        case 'raw':
          return answer(fault.status, fault.body, fault.headers)
      }
    }

    const messages = validate(query, body, raw.length, streams, Math.floor(now() / 1000))
    if (debug) return answer(200, { validationMessages: messages })
    if (messages.length > 0) dropped.push({ body, messages })
    else {
      const b = body as Record<string, unknown>
      for (const e of b.events as AcceptedGa4Event['event'][])
        accepted.push({
          measurementId: query.measurement_id,
          clientId: b.client_id as string,
          userId: b.user_id as string | undefined,
          timestampMicros: b.timestamp_micros as number | undefined,
          userData: b.user_data,
          consent: b.consent,
          event: e,
        })
    }
    // the live endpoint never tells: 204 either way
    answer(204)
  })

  return {
    ...(await listenLocal(server)),
    requests,
    accepted,
    dropped,
    inject: (fault) => {
      faults.push(fault)
    },
  }
}

const isName = (n: string) => GA4_NAME.test(n)
const reservedPrefix = (n: string) => RESERVED_PREFIXES.some((p) => n.startsWith(p))

function validate(
  query: Record<string, string>,
  body: unknown,
  size: number,
  streams: Record<string, string>,
  nowS: number,
): ValidationMessage[] {
  const out: ValidationMessage[] = []
  const msg = (fieldPath: string, validationCode: string, description: string) =>
    out.push({ fieldPath, validationCode, description })
  if (!query.measurement_id) msg('measurement_id', 'VALUE_REQUIRED', 'Measurement ID is required.')
  else if (!(query.measurement_id in streams))
    msg(
      'measurement_id',
      'VALUE_INVALID',
      `Unable to find a stream for measurement ID ${query.measurement_id}.`,
    )
  else if (query.api_secret !== streams[query.measurement_id])
    msg('api_secret', 'VALUE_INVALID', 'The API secret does not belong to this measurement ID.')
  if (size > MAX_BODY) msg('', 'VALUE_OUT_OF_BOUNDS', `Post body must be smaller than ${MAX_BODY} bytes.`)
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    msg('', 'VALUE_INVALID', 'Unable to parse the request body as JSON.')
    return out
  }
  const b = body as Record<string, unknown>
  if (typeof b.client_id !== 'string' || b.client_id === '')
    msg('client_id', 'VALUE_REQUIRED', 'client_id is required for web streams.')
  if (b.user_id !== undefined && (typeof b.user_id !== 'string' || b.user_id.length > 256))
    msg('user_id', 'VALUE_INVALID', 'user_id must be a string of at most 256 characters.')
  if (b.timestamp_micros !== undefined) {
    const ts = Number(b.timestamp_micros) / 1e6
    if (!Number.isFinite(ts)) msg('timestamp_micros', 'VALUE_INVALID', 'timestamp_micros must be a number.')
    else if (nowS - ts > GA4_MAX_AGE_S)
      msg('timestamp_micros', 'VALUE_OUT_OF_BOUNDS', 'Events may be backdated by at most 72 hours.')
    else if (ts - nowS > MAX_FUTURE_S)
      msg('timestamp_micros', 'VALUE_OUT_OF_BOUNDS', 'timestamp_micros is in the future.')
  }
  if (b.consent !== undefined) {
    const c = b.consent as Record<string, unknown>
    for (const k of Object.keys(c ?? {}))
      if (
        !['ad_user_data', 'ad_personalization'].includes(k) ||
        !['GRANTED', 'DENIED'].includes(String(c[k]))
      )
        msg(`consent.${k}`, 'VALUE_INVALID', 'Consent values must be GRANTED or DENIED.')
  }
  if (b.user_data !== undefined) checkUserData(b.user_data, msg)
  // uid-data guide: "The user_id parameter must be present whenever user_data is provided"
  if (b.user_data !== undefined && b.user_id === undefined)
    msg('user_data', 'VALUE_REQUIRED', 'user_id is required when user_data is provided.')
  const events = b.events
  if (!Array.isArray(events) || events.length === 0) {
    msg('events', 'VALUE_REQUIRED', 'At least one event is required.')
    return out
  }
  if (events.length > GA4_MAX_EVENTS)
    msg('events', 'EXCEEDED_MAX_ENTITIES', `A request may contain at most ${GA4_MAX_EVENTS} events.`)
  events.forEach((e, i) => {
    const ev = (e ?? {}) as Record<string, unknown>
    const name = ev.name
    if (typeof name !== 'string' || name === '') {
      msg(`events[${i}].name`, 'VALUE_REQUIRED', 'Event name is required.')
      return
    }
    if (!isName(name)) msg(`events[${i}].name`, 'NAME_INVALID', `Event name ${name} is invalid.`)
    else if (RESERVED_EVENT_NAMES.has(name) || reservedPrefix(name))
      msg(`events[${i}].name`, 'NAME_RESERVED', `Event name ${name} is reserved.`)
    const params = (ev.params ?? {}) as Record<string, unknown>
    const keys = Object.keys(params)
    if (keys.length > GA4_MAX_PARAMS)
      msg(
        `events[${i}].params`,
        'EXCEEDED_MAX_ENTITIES',
        `An event may have at most ${GA4_MAX_PARAMS} parameters.`,
      )
    for (const k of keys) {
      const v = params[k]
      if (!isName(k)) msg(`events[${i}].params.${k}`, 'NAME_INVALID', `Parameter name ${k} is invalid.`)
      else if (reservedPrefix(k))
        msg(`events[${i}].params.${k}`, 'NAME_RESERVED', `Parameter name ${k} is reserved.`)
      if (typeof v === 'string' && v.length > GA4_MAX_PARAM_VALUE)
        msg(
          `events[${i}].params.${k}`,
          'VALUE_OUT_OF_BOUNDS',
          `Parameter values are limited to ${GA4_MAX_PARAM_VALUE} characters.`,
        )
      if (k === 'currency' && (typeof v !== 'string' || !/^[A-Z]{3}$/.test(v)))
        msg(`events[${i}].params.currency`, 'VALUE_INVALID', 'currency must be a 3-letter ISO 4217 code.')
      if (k === 'value' && typeof v !== 'number')
        msg(`events[${i}].params.value`, 'VALUE_INVALID', 'value must be a number.')
    }
  })
  return out
}

function checkUserData(ud: unknown, msg: (f: string, c: string, d: string) => void) {
  const u = (ud ?? {}) as Record<string, unknown>
  const hashedList = (path: string, v: unknown) => {
    if (v === undefined) return
    if (!Array.isArray(v) || v.length > GA4_MAX_USER_DATA_VALUES)
      return msg(
        path,
        'VALUE_INVALID',
        `${path} must be a list of at most ${GA4_MAX_USER_DATA_VALUES} values.`,
      )
    for (const x of v)
      if (typeof x !== 'string' || !HEX64.test(x)) msg(path, 'VALUE_INVALID', `${path} must be SHA-256 hex.`)
  }
  hashedList('user_data.sha256_email_address', u.sha256_email_address)
  hashedList('user_data.sha256_phone_number', u.sha256_phone_number)
  if (u.address === undefined) return
  if (!Array.isArray(u.address) || u.address.length > GA4_MAX_ADDRESSES)
    return msg(
      'user_data.address',
      'VALUE_INVALID',
      `address must be a list of at most ${GA4_MAX_ADDRESSES} addresses.`,
    )
  u.address.forEach((a, i) => {
    const addr = (a ?? {}) as Record<string, unknown>
    for (const k of ['sha256_first_name', 'sha256_last_name', 'sha256_street'])
      if (addr[k] !== undefined && (typeof addr[k] !== 'string' || !HEX64.test(addr[k] as string)))
        msg(`user_data.address[${i}].${k}`, 'VALUE_INVALID', `${k} must be SHA-256 hex.`)
    for (const k of ['city', 'region', 'postal_code', 'country'])
      if (typeof addr[k] === 'string' && HEX64.test(addr[k] as string))
        msg(`user_data.address[${i}].${k}`, 'VALUE_INVALID', `${k} is sent in the clear, not hashed.`)
  })
}
