/**
 * A local stand-in for the TikTok Events API 2.0 track endpoint, on a real socket (127.0.0.1, random port),
 * for tests. It behaves like TikTok where closeloop depends on it:
 * - `POST /open_api/v1.3/event/track/` only; errors come as **HTTP 200** with a non-zero `code`
 *   (`{ code, message, request_id, data: {} }`), success as `{ code: 0, message: "OK", … }`;
 * - `Access-Token` header: missing → 40104, unknown → 40105, not allowed on the event set → 40001;
 * - `event_source` in web/app/offline/crm, `event_source_id` known; `data` 1–1,000 events;
 * - per event: `event`, integer `event_time` (≤ 7 days old, ≤ 60 s ahead), `event_id`, a non-empty `user`,
 *   a valid `ip`, numeric `value` with a 3-letter `currency`; **one bad event rejects the request** with 40002
 *   and a message naming `data[i]`;
 * - `test_event_code` events are recorded as test events.
 * Stricter than TikTok on purpose: `email`, `phone` and `external_id` must be 64 lowercase hex, so a test
 * fails loudly if closeloop ever sends raw PII. Codes other than 0/40001/40002/40100 are unverified.
 * Faults (40100 rate limit, 50000 system error, HTTP 5xx, raw) are queued with `inject`.
 *
 * @example
 *   const tt = await startMockTikTok({ tokens: ['tok'], eventSets: ['ES1'] })
 *   // destination config: { base_url: tt.url, access_token: 'tok', event_source_id: 'ES1', allow_private: true }
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { isIP } from 'node:net'
import { listenLocal, readBody } from '../testing/mock-http.ts'

export type TikTokFault =
  | { kind: 'rate_limit'; retryAfterS?: number }
  | { kind: 'system_error' }
  | { kind: 'http_error'; status?: number }
  | { kind: 'token_revoked' }
  | { kind: 'raw'; status: number; body: string }

export interface TikTokRequest {
  path: string
  headers: Record<string, string | string[] | undefined>
  body: unknown
  /** The `code` answered (or -status for a non-JSON answer). */
  code: number
}

export interface AcceptedTikTokEvent {
  eventSource: string
  eventSourceId: string
  testEventCode?: string
  event: Record<string, unknown>
}

export interface MockTikTok {
  url: string
  requests: TikTokRequest[]
  accepted: AcceptedTikTokEvent[]
  inject(fault: TikTokFault): void
  close(): Promise<void>
}

export interface MockTikTokOptions {
  tokens?: string[]
  eventSets?: string[]
  /** Tokens valid but without access to any event set (→ 40001). */
  unprivilegedTokens?: string[]
  now?: () => number
}

const SOURCES = new Set(['web', 'app', 'offline', 'crm'])
const HEX64 = /^[a-f0-9]{64}$/
/** TikTok's body cap is not published; 8 MiB holds 1,000 full events. */
const MAX_BODY = 8 << 20

export async function startMockTikTok(opts: MockTikTokOptions = {}): Promise<MockTikTok> {
  const tokens = new Set(opts.tokens ?? ['test-token'])
  const unprivileged = new Set(opts.unprivilegedTokens ?? [])
  const eventSets = new Set(opts.eventSets ?? ['ES_TEST'])
  const now = opts.now ?? Date.now
  const faults: TikTokFault[] = []
  const requests: TikTokRequest[] = []
  const accepted: AcceptedTikTokEvent[] = []

  const server = createServer(async (req, res) => {
    const raw = await readBody(req, MAX_BODY)
    let body: unknown
    try {
      body = JSON.parse(raw)
    } catch {
      body = undefined
    }
    const record: TikTokRequest = { path: req.url ?? '', headers: req.headers, body, code: 0 }
    requests.push(record)
    const request_id = randomBytes(12).toString('hex')
    const reply = (code: number, message: string, headers: Record<string, string> = {}, status = 200) => {
      record.code = code
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify({ code, message, request_id, data: {} }))
    }
    if (req.method !== 'POST' || req.url !== '/open_api/v1.3/event/track/') {
      record.code = -404
      res.writeHead(404, { 'content-type': 'text/plain' })
      return res.end('404 page not found')
    }

    const fault = faults.shift()
    if (fault) {
      switch (fault.kind) {
        case 'rate_limit':
          return reply(
            40100,
            'Too many requests. Please retry in some time.',
            fault.retryAfterS === undefined ? {} : { 'retry-after': String(fault.retryAfterS) },
          )
        case 'system_error':
          return reply(50000, 'System error. Please retry later.')
        case 'token_revoked':
          return reply(40105, 'Access token is incorrect or has been revoked.')
        case 'http_error':
          record.code = -(fault.status ?? 502)
          res.writeHead(fault.status ?? 502, { 'content-type': 'text/html' })
          return res.end('<html><body>Bad Gateway</body></html>')
        case 'raw':
          record.code = -fault.status
          res.writeHead(fault.status, { 'content-type': 'text/plain' })
          return res.end(fault.body)
      }
    }

    const token = req.headers['access-token']
    if (typeof token !== 'string' || token === '') return reply(40104, 'Access token is null.')
    if (!tokens.has(token) && !unprivileged.has(token))
      return reply(40105, 'Access token is incorrect or has been revoked.')
    if (!body || typeof body !== 'object') return reply(40002, 'Invalid JSON body.')
    const b = body as Record<string, unknown>
    if (typeof b.event_source !== 'string' || !SOURCES.has(b.event_source))
      return reply(40002, `event_source: must be one of web, app, offline, crm.`)
    if (typeof b.event_source_id !== 'string' || !eventSets.has(b.event_source_id))
      return reply(40001, `No permission to operate event set ${String(b.event_source_id)}.`)
    if (unprivileged.has(token))
      return reply(40001, `No permission to operate event set ${b.event_source_id}.`)
    const data = b.data
    if (!Array.isArray(data) || data.length === 0)
      return reply(40002, 'data: at least one event is required.')
    if (data.length > 1000) return reply(40002, 'data: at most 1000 events per request.')
    const nowS = Math.floor(now() / 1000)
    for (let i = 0; i < data.length; i++) {
      const problem = checkEvent(data[i], nowS)
      if (problem) return reply(40002, `data[${i}].${problem}`)
    }
    const testEventCode = typeof b.test_event_code === 'string' ? b.test_event_code : undefined
    for (const e of data)
      accepted.push({
        eventSource: b.event_source,
        eventSourceId: b.event_source_id,
        testEventCode,
        event: e as Record<string, unknown>,
      })
    reply(0, 'OK')
  })

  return {
    ...(await listenLocal(server)),
    requests,
    accepted,
    inject: (fault) => {
      faults.push(fault)
    },
  }
}

/** The first problem with one event, as `<field>: <why>`. */
function checkEvent(raw: unknown, nowS: number): string | undefined {
  if (!raw || typeof raw !== 'object') return 'event must be an object'
  const e = raw as Record<string, unknown>
  if (typeof e.event !== 'string' || e.event === '') return 'event: is required'
  if (typeof e.event_time !== 'number' || !Number.isInteger(e.event_time))
    return 'event_time: must be an integer Unix timestamp in seconds'
  if (nowS - e.event_time > 7 * 86400) return 'event_time: is more than 7 days in the past'
  if (e.event_time - nowS > 60) return 'event_time: is in the future'
  if (e.event_id !== undefined && typeof e.event_id !== 'string') return 'event_id: must be a string'
  const user = e.user
  if (!user || typeof user !== 'object' || Object.keys(user).length === 0)
    return 'user: at least one user parameter is required'
  const u = user as Record<string, unknown>
  for (const k of ['email', 'phone', 'external_id']) {
    const v = u[k]
    if (v === undefined) continue
    for (const x of Array.isArray(v) ? v : [v])
      if (typeof x !== 'string' || !HEX64.test(x)) return `user.${k}: must be SHA-256 hashed`
  }
  if (u.ip !== undefined && (typeof u.ip !== 'string' || isIP(u.ip) === 0))
    return `user.ip: "${String(u.ip)}" is not a valid IP address`
  const p = (e.properties ?? {}) as Record<string, unknown>
  if (p.value !== undefined && typeof p.value !== 'number') return 'properties.value: must be a number'
  if (p.currency !== undefined && (typeof p.currency !== 'string' || !/^[A-Z]{3}$/.test(p.currency)))
    return `properties.currency: "${String(p.currency)}" is not a valid currency code`
  return undefined
}
