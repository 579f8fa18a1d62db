/**
 * A faithful local Data Manager API (`node:http` on 127.0.0.1:0) for tests and `send-test`.
 *
 * Routes come from the `google.api.http` rules of `IngestionService` in `@google-ads/datamanager`'s protos,
 * and every body is checked against `IngestEventsRequest` from the same descriptors (unknown fields, types,
 * enum names, oneofs, REQUIRED fields). On top of the proto it enforces the documented semantics: Bearer
 * token from the mock token server, ≤ 2,000 events, ≤ 10 identifiers, `encoding` with hashed data, 64-hex
 * hashes, ISO currency and region codes, known conversion actions, destination references, at least one
 * identifier per event, `eventSource` on offline conversions. Errors are fast-fail `google.rpc.Status` bodies
 * with `ErrorInfo` and `BadRequest.fieldViolations` (`events[3].currency`). Scripted failures (429, 503, 403)
 * let tests walk the error table.
 *
 * @example
 *   const dm = await startMockDataManager({ tokens: oauth, conversionActions: ['111'], operatingAccountId: '1234567890' })
 *   // POST `${dm.url}/v1/events:ingest` → 200 { requestId }
 */
import { randomUUID } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import { checkMessage, loadProtoRoot, restRoutes } from '../google/proto-json.ts'
import { listenLocal, readWholeBody } from '../testing/mock-http.ts'

const ROOT = loadProtoRoot('@google-ads/datamanager')
const ROUTES = restRoutes(ROOT, 'google.ads.datamanager.v1.IngestionService')
const HEX64 = /^[0-9a-f]{64}$/
const BASE64_SHA256 = /^[A-Za-z0-9+/_-]{43}=?$/

export interface MockDataManagerOptions {
  /** Validates bearer tokens (the mock token server). */
  tokens: { isValid(token: string): boolean }
  /** Conversion action ids that exist in the operating account. */
  conversionActions: string[]
  operatingAccountId: string
  /** When set, the only manager account allowed to log in for the operating account. */
  loginAccountId?: string
  /**
   * Which field violations a rejected request names: all of them (default), or only the first, as a
   * fast-fail API that stops at the first error may; the reference does not say which Google does.
   */
  violations?: 'all' | 'first'
}

export interface ReceivedRequest {
  path: string
  headers: Record<string, string | string[] | undefined>
  body: unknown
  status: number
}

export type ScriptedFailure = 'throttle' | 'unavailable' | 'permission' | 'unauthenticated'

export interface MockDataManager {
  url: string
  received: ReceivedRequest[]
  /** Accepted events by transactionId (a repeat of a transactionId counts as an adjustment). */
  events: Map<string, { event: Record<string, unknown>; destination: string; adjustments: number }>
  /** The next n requests fail this way, before any validation. */
  failNext(n: number, failure: ScriptedFailure): void
  close(): Promise<void>
}

interface Violation {
  field: string
  description: string
  reason: string
}

const GRPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  503: 'UNAVAILABLE',
}

function rpcError(
  res: ServerResponse,
  http: number,
  message: string,
  reason: string,
  violations: Violation[] = [],
) {
  const details: Record<string, unknown>[] = [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason,
      domain: 'datamanager.googleapis.com',
      metadata: { requestId: randomUUID() },
    },
  ]
  if (violations.length)
    details.push({ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: violations })
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=UTF-8' }
  if (http === 429) headers['retry-after'] = '30'
  res.writeHead(http, headers)
  res.end(JSON.stringify({ error: { code: http, message, status: GRPC_STATUS[http] ?? 'UNKNOWN', details } }))
}

type Obj = Record<string, unknown>
const asObj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {})
const asArr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : [])

/** The documented semantics the proto alone does not express. */
function semanticViolations(body: Obj, opts: MockDataManagerOptions): Violation[] {
  const v: Violation[] = []
  const destinations = asArr(body.destinations)
  const events = asArr(body.events)
  if (events.length > 2000)
    v.push({
      field: 'events',
      description: 'Too many events in the request (max 2000).',
      reason: 'TOO_MANY_EVENTS',
    })
  const refs = new Set<string>()
  destinations.forEach((d, i) => {
    const reference = typeof d.reference === 'string' ? d.reference : ''
    if (reference && refs.has(reference))
      v.push({
        field: `destinations[${i}].reference`,
        description: 'Duplicate reference.',
        reason: 'DUPLICATE_DESTINATION_REFERENCE',
      })
    refs.add(reference)
    const op = asObj(d.operatingAccount)
    if (op.accountType !== 'GOOGLE_ADS' || op.accountId !== opts.operatingAccountId)
      v.push({
        field: `destinations[${i}].operating_account`,
        description: 'Unknown operating account.',
        reason: 'INVALID_DESTINATION',
      })
    if (!/^\d+$/.test(String(op.accountId ?? '')))
      v.push({
        field: `destinations[${i}].operating_account.account_id`,
        description: 'Digits only.',
        reason: 'INVALID_FORMAT',
      })
    if (!opts.conversionActions.includes(String(d.productDestinationId)))
      v.push({
        field: `destinations[${i}].product_destination_id`,
        description: 'The conversion action does not exist.',
        reason: 'INVALID_CONVERSION_ACTION_ID',
      })
  })
  const hashed = body.encoding === 'BASE64' ? BASE64_SHA256 : HEX64
  events.forEach((e, i) => {
    const at = `events[${i}]`
    for (const r of Array.isArray(e.destinationReferences) ? (e.destinationReferences as string[]) : [])
      if (!refs.has(r))
        v.push({
          field: `${at}.destination_references`,
          description: `Unknown reference ${r}.`,
          reason: 'INVALID_DESTINATION',
        })
    const ids = asArr(asObj(e.userData).userIdentifiers)
    if (ids.length > 10)
      v.push({
        field: `${at}.user_data.user_identifiers`,
        description: 'At most 10.',
        reason: 'TOO_MANY_USER_IDENTIFIERS',
      })
    if (ids.length && body.encoding === undefined)
      v.push({
        field: 'encoding',
        description: 'Encoding is required for user data.',
        reason: 'REQUIRED_FIELD_MISSING',
      })
    ids.forEach((id, j) => {
      const f = `${at}.user_data.user_identifiers[${j}]`
      const check = (value: unknown, name: string) => {
        if (typeof value === 'string' && !hashed.test(value))
          v.push({
            field: `${f}.${name}`,
            description: 'Not a SHA-256 hash in the declared encoding.',
            reason: 'INVALID_SHA256_FORMAT',
          })
      }
      check(id.emailAddress, 'email_address')
      check(id.phoneNumber, 'phone_number')
      const a = asObj(id.address)
      if (id.address !== undefined) {
        check(a.givenName, 'address.given_name')
        check(a.familyName, 'address.family_name')
        if (!/^[A-Z]{2}$/.test(String(a.regionCode)))
          v.push({
            field: `${f}.address.region_code`,
            description: 'ISO 3166-1 alpha-2.',
            reason: 'INVALID_COUNTRY_CODE',
          })
        if (HEX64.test(String(a.postalCode)))
          v.push({
            field: `${f}.address.postal_code`,
            description: 'Postal code must not be hashed.',
            reason: 'INVALID_POSTAL_CODE',
          })
      }
    })
    const ad = asObj(e.adIdentifiers)
    if (ad.gbraid !== undefined && ad.wbraid !== undefined)
      v.push({
        field: `${at}.ad_identifiers`,
        description: 'Set gbraid or wbraid, not both.',
        reason: 'INVALID_EVENT',
      })
    const hasClick = ['gclid', 'gbraid', 'wbraid'].some((k) => typeof ad[k] === 'string' && ad[k] !== '')
    if (!hasClick && ids.length === 0)
      v.push({
        field: at,
        description: 'No user identifiers or ad identifiers.',
        reason: 'NO_IDENTIFIERS_PROVIDED',
      })
    if (e.eventSource === undefined)
      v.push({
        field: `${at}.event_source`,
        description: 'Required for offline conversions.',
        reason: 'REQUIRED_FIELD_MISSING',
      })
    if (e.currency !== undefined && !/^[A-Z]{3}$/.test(String(e.currency)))
      v.push({
        field: `${at}.currency`,
        description: 'Invalid currency code.',
        reason: 'INVALID_CURRENCY_CODE',
      })
    const ts = Date.parse(String(e.eventTimestamp))
    // Google rejects events from the future; a day of slack covers clock skew.
    if (ts > Date.now() + 86_400_000)
      v.push({
        field: `${at}.event_timestamp`,
        description: 'Event time is in the future.',
        reason: 'EVENT_TIME_INVALID',
      })
  })
  return v
}

/** proto3 checker paths are camelCase (`events[0].userData`); Google reports snake_case. */
const snake = (path: string) => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

export async function startMockDataManager(opts: MockDataManagerOptions): Promise<MockDataManager> {
  const received: ReceivedRequest[] = []
  const events: MockDataManager['events'] = new Map()
  const scripted: ScriptedFailure[] = []

  const server = createServer(async (req, res) => {
    const raw = await readWholeBody(req)
    const path = (req.url ?? '/').split('?')[0]
    let parsed: unknown
    const record = (status: number) => received.push({ path, headers: req.headers, body: parsed, status })
    const route = ROUTES.find((r) => r.httpMethod === req.method && r.pattern.test(path))
    if (route?.rpc !== 'IngestEvents') {
      record(404)
      return rpcError(res, 404, `Method not found: ${req.method} ${path}`, 'NOT_FOUND')
    }
    const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))
    if (!auth || !opts.tokens.isValid(auth[1])) {
      record(401)
      return rpcError(
        res,
        401,
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        'ACCESS_TOKEN_EXPIRED',
      )
    }
    const failure = scripted.shift()
    if (failure === 'throttle') {
      record(429)
      return rpcError(res, 429, 'Quota exceeded for quota metric requests per minute.', 'RESOURCE_EXHAUSTED')
    }
    if (failure === 'unavailable') {
      record(503)
      return rpcError(res, 503, 'The service is currently unavailable.', 'INTERNAL_ERROR')
    }
    if (failure === 'permission') {
      record(403)
      return rpcError(res, 403, 'The caller does not have permission', 'PERMISSION_DENIED')
    }
    if (failure === 'unauthenticated') {
      record(401)
      return rpcError(res, 401, 'Request had invalid authentication credentials.', 'ACCESS_TOKEN_EXPIRED')
    }
    if (!String(req.headers['content-type']).startsWith('application/json')) {
      record(415)
      return rpcError(
        res,
        400,
        'Invalid JSON payload: content-type must be application/json',
        'INVALID_ARGUMENT',
      )
    }
    if (req.headers['developer-token'] !== undefined) {
      // Data Manager has no developer token; sending one means the wrong API's client code is in use.
      record(400)
      return rpcError(res, 400, 'developer-token is not a Data Manager header', 'INVALID_ARGUMENT')
    }
    try {
      parsed = JSON.parse(raw)
    } catch {
      record(400)
      return rpcError(res, 400, 'Invalid JSON payload received.', 'INVALID_ARGUMENT')
    }
    const protoErrors = checkMessage(ROOT, route.requestType, parsed, route.pathBound)
    if (protoErrors.length) {
      record(400)
      const violations = protoErrors.map((e) => {
        const [field, ...rest] = e.split(': ')
        return {
          field: snake(field),
          description: rest.join(': '),
          reason: /required$/.test(e) ? 'REQUIRED_FIELD_MISSING' : 'INVALID_ARGUMENT',
        }
      })
      return rpcError(res, 400, 'There was a problem with the request.', 'INVALID_ARGUMENT', violations)
    }
    const body = asObj(parsed)
    const violations = semanticViolations(body, opts)
    if (violations.length) {
      record(400)
      const named = opts.violations === 'first' ? violations.slice(0, 1) : violations
      return rpcError(res, 400, 'There was a problem with the request.', violations[0].reason, named)
    }
    for (const d of asArr(body.destinations)) {
      const login = asObj(d.loginAccount).accountId
      if (opts.loginAccountId && login !== undefined && login !== opts.loginAccountId) {
        record(403)
        return rpcError(res, 403, 'The caller does not have permission', 'PERMISSION_DENIED')
      }
    }
    record(200)
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' })
    if (body.validateOnly === true) return res.end('{}')
    const byRef = new Map(
      asArr(body.destinations).map((d) => [String(d.reference ?? ''), String(d.productDestinationId)]),
    )
    for (const e of asArr(body.events)) {
      const refs = Array.isArray(e.destinationReferences)
        ? (e.destinationReferences as string[])
        : [...byRef.keys()]
      for (const ref of refs) {
        const key = `${byRef.get(ref)}/${String(e.transactionId ?? randomUUID())}`
        const prior = events.get(key)
        events.set(key, {
          event: e,
          destination: byRef.get(ref) ?? '',
          adjustments: prior ? prior.adjustments + 1 : 0,
        })
      }
    }
    res.end(JSON.stringify({ requestId: randomUUID() }))
  })
  return {
    ...(await listenLocal(server, { quietClose: true })),
    received,
    events,
    failNext(n, failure) {
      for (let i = 0; i < n; i++) scripted.push(failure)
    },
  }
}
