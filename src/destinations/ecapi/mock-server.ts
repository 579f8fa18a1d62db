/**
 * A local ECAPI partner for tests, on a real socket (127.0.0.1, random port). It behaves like a strict
 * partner where closeloop depends on it:
 * - Standard Webhooks: when a `secret` is configured, the signature is verified with the official
 *   `standardwebhooks` package (missing headers, a bad signature or a timestamp outside ±5 min → 401);
 * - `Authorization: Bearer`: when `bearerToken` is configured, anything else → 401;
 * - body: one ECAPI event, or `{ "<batchKey>": [...] }` when `batch` is on (at most `maxBatch` events);
 * - every event is validated against closeloop's own `EcapiEvent` schema (`validator`), plus the spec's
 *   conditional rules (value → currency_code, custom → custom_event) and a stricter-than-spec check that
 *   every hashed field is 64 lowercase hex and city/state/country are plain lowercase, so a test fails loudly
 *   if closeloop ever sends raw PII; **one bad event rejects the request** with 400 (ECAPI defines no partial
 *   success) and a body naming each problem;
 * - records merge on (`data_set_id`, `id`) as ECAPI §5 describes; success is 200 `{ "received": n }`.
 * Faults (429 with Retry-After, 500, 401, raw) are queued with `inject` and consumed one per request.
 *
 * @example
 *   const partner = await startMockEcapi({ secret: 'whsec_…' })
 *   // destination config: { url: partner.url + '/ecapi', secret: 'whsec_…', allow_private: true }
 *   partner.inject({ kind: 'throttle', retryAfterS: 30 })
 */
import { createServer, type ServerResponse } from 'node:http'
import { Webhook } from 'standardwebhooks'
import { EcapiEvent } from '../../model/ecapi.ts'
import type { ErrorDetail } from '../../model/errors.ts'
import { validator } from '../../model/validate.ts'
import { listenLocal, readBody } from '../testing/mock-http.ts'

export type EcapiFault =
  | { kind: 'throttle'; retryAfterS?: number }
  | { kind: 'server_error'; status?: number }
  | { kind: 'unauthorized' }
  | { kind: 'raw'; status: number; body: string; headers?: Record<string, string> }

export interface ReceivedRequest {
  path: string
  headers: Record<string, string | string[] | undefined>
  raw: string
  status: number
  /** The events of the request, when the body parsed. */
  events: unknown[]
}

export interface MockEcapi {
  url: string
  requests: ReceivedRequest[]
  /** Records after merge, keyed `data_set_id␟id` (events without an id get a running key). */
  records: Map<string, Record<string, unknown>>
  /** How many accepted events merged into an existing record. */
  merges: number
  inject(fault: EcapiFault): void
  close(): Promise<void>
}

export interface MockEcapiOptions {
  /** Verify Standard Webhooks signatures with this `whsec_` secret. */
  secret?: string
  /** Require `Authorization: Bearer <token>`. */
  bearerToken?: string
  /** Accept `{ "<batchKey>": [...] }` bodies (default: single events only). */
  batch?: boolean
  batchKey?: string
  /** Largest accepted batch (default 1,000, the largest any CAPI-style API allows). */
  maxBatch?: number
}

const HEX64 = /^[a-f0-9]{64}$/
/** A partner's body cap; 5 MiB holds 1,000 full events. */
const MAX_BODY = 5 << 20
const check = validator(EcapiEvent)

export async function startMockEcapi(opts: MockEcapiOptions = {}): Promise<MockEcapi> {
  const wh = opts.secret ? new Webhook(opts.secret) : undefined
  const batchKey = opts.batchKey ?? 'events'
  const maxBatch = opts.maxBatch ?? 1000
  const faults: EcapiFault[] = []
  const requests: ReceivedRequest[] = []
  const records = new Map<string, Record<string, unknown>>()
  let merges = 0
  let anonymous = 0

  const server = createServer(async (req, res) => {
    const raw = await readBody(req, MAX_BODY)
    const record: ReceivedRequest = { path: req.url ?? '', headers: req.headers, raw, status: 0, events: [] }
    requests.push(record)
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status
      send(res, status, payload, headers)
    }
    if (req.method !== 'POST') return answer(404, { error: 'not found' })

    const fault = faults.shift()
    if (fault) {
      switch (fault.kind) {
        case 'throttle':
          return answer(
            429,
            { error: 'rate limit exceeded' },
            fault.retryAfterS === undefined ? {} : { 'retry-after': String(fault.retryAfterS) },
          )
        case 'server_error':
          return answer(fault.status ?? 500, { error: 'internal service error' })
        case 'unauthorized':
          return answer(401, { error: 'credential revoked' })
        case 'raw':
          record.status = fault.status
          res.writeHead(fault.status, { 'content-type': 'text/plain', ...(fault.headers ?? {}) })
          return res.end(fault.body)
      }
    }

    if (opts.bearerToken !== undefined && req.headers.authorization !== `Bearer ${opts.bearerToken}`)
      return answer(401, { error: 'missing or incorrect bearer token' })
    if (wh) {
      try {
        wh.verify(raw, {
          'webhook-id': String(req.headers['webhook-id'] ?? ''),
          'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
        })
      } catch (err) {
        return answer(401, { error: `signature: ${(err as Error).message}` })
      }
    }

    let body: unknown
    try {
      body = JSON.parse(raw)
    } catch {
      return answer(400, { error: 'body is not JSON' })
    }
    let events: unknown[]
    if (body && typeof body === 'object' && !Array.isArray(body) && batchKey in body) {
      if (!opts.batch) return answer(400, { error: 'this endpoint takes one event per request' })
      const list = (body as Record<string, unknown>)[batchKey]
      if (!Array.isArray(list) || list.length === 0)
        return answer(400, { error: `${batchKey} must be a non-empty array` })
      if (list.length > maxBatch) return answer(400, { error: `at most ${maxBatch} events per request` })
      events = list
    } else events = [body]
    record.events = events

    const problems: Array<ErrorDetail & { index: number }> = []
    events.forEach((e, index) => {
      for (const d of [...check(e), ...specRules(e)]) problems.push({ index, ...d })
    })
    if (problems.length > 0) return answer(400, { error: 'invalid event(s)', details: problems })

    for (const e of events as Array<Record<string, unknown>>) {
      const key = e.id === undefined ? `#${anonymous++}` : `${String(e.data_set_id)}\u241f${String(e.id)}`
      const existing = records.get(key)
      if (existing) merges++
      // merge rules are implementation specific (ECAPI §5); later fields win here
      records.set(key, { ...(existing ?? {}), ...e })
    }
    answer(200, { received: events.length })
  })

  return {
    ...(await listenLocal(server)),
    requests,
    records,
    get merges() {
      return merges
    },
    inject: (fault) => {
      faults.push(fault)
    },
  }
}

const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v])

/** The spec's conditional requirements and the hashed / plain field rules the schema cannot express. */
function specRules(raw: unknown): ErrorDetail[] {
  if (!raw || typeof raw !== 'object') return []
  const e = raw as Record<string, unknown>
  const out: ErrorDetail[] = []
  if (e.value !== undefined && e.currency_code === undefined)
    out.push({ path: '/currency_code', message: 'required when value is set' })
  if (e.event_type === 'custom' && !e.custom_event)
    out.push({ path: '/custom_event', message: 'required when event_type is custom' })
  const ud = (e.user_data ?? {}) as Record<string, unknown>
  const hashed = (path: string, v: unknown) => {
    for (const x of asList(v))
      if (typeof x !== 'string' || !HEX64.test(x))
        out.push({ path, message: 'must be SHA-256 (64 lowercase hex)' })
  }
  hashed('/user_data/email_address', ud.email_address)
  hashed('/user_data/phone_numbers', ud.phone_numbers)
  hashed('/user_data/customer_identifier', ud.customer_identifier)
  hashed('/user_data/gender', ud.gender)
  asList(ud.address).forEach((a, i) => {
    const addr = (a ?? {}) as Record<string, unknown>
    for (const k of ['first_name', 'last_name', 'street', 'postal_code'])
      hashed(`/user_data/address/${i}/${k}`, addr[k])
    for (const k of ['city', 'state', 'country_code']) {
      const v = addr[k]
      if (v !== undefined && (typeof v !== 'string' || HEX64.test(v) || v !== v.toLowerCase()))
        out.push({ path: `/user_data/address/${i}/${k}`, message: 'must be plain lowercase, not hashed' })
    }
  })
  return out
}

function send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string>) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(payload))
}
