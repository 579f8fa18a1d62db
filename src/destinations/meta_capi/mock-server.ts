/**
 * A local stand-in for Meta's Graph API `/{version}/{pixel}/events`, on a real socket (127.0.0.1, random
 * port), for tests. It behaves like Graph where closeloop depends on it:
 * - auth: `Authorization: Bearer`, or `access_token` in the body or query; missing → code 104, unknown → 190,
 *   expired → 190/463 (all HTTP 400, as Graph answers OAuthException);
 * - unknown pixel → code 100 subcode 33; unknown path → code 2500;
 * - `data` required, at most 1,000 events; per event: event_name, integer event_time within
 *   [now − 7 d, now + 60 s] (subcode 2804003 when too old), action_source in the enum, a non-empty user_data,
 *   value + currency for Purchase (subcode 2804009), a valid client_ip_address;
 * - **one bad event rejects the whole request**, nothing is recorded, and `error_user_msg` names the index
 *   (`data[i]`) unless `namesIndex: false` (real Meta messages do not always name it);
 * - success: `{ events_received, messages: [], fbtrace_id }` and an `x-fb-trace-id` header.
 * Stricter than Meta on purpose: a hashed key (em, ph, …) holding anything but 64-hex is rejected, so a test
 * fails loudly if closeloop ever sends raw PII.
 * Faults (throttling 4/17/613/80004, auth expiry, transient 1/2, 5xx HTML) are queued with `inject` and
 * consumed one per request.
 *
 * @example
 *   const graph = await startMockGraph({ tokens: ['tok'], pixels: ['123'] })
 *   // destination config: { base_url: graph.url, pixel_id: '123', access_token: 'tok', allow_private: true }
 *   graph.inject({ kind: 'throttle', code: 17 })
 *   await graph.close()
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { listenLocal, readBody } from '../testing/mock-http.ts'
import type { GraphError } from './errors.ts'

export type MockFault =
  | { kind: 'throttle'; code?: 4 | 17 | 32 | 613 | 80004; retryAfterS?: number; regainMinutes?: number }
  | { kind: 'auth'; subcode?: 460 | 463 }
  | { kind: 'transient'; code?: 1 | 2 }
  | { kind: 'server_error'; status?: number }
  | { kind: 'raw'; status: number; body: string; headers?: Record<string, string> }

export interface ReceivedRequest {
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  body: unknown
  /** The status the mock answered with. */
  status: number
}

export interface AcceptedEvent {
  pixel: string
  testEventCode?: string
  event: Record<string, unknown>
}

export interface MockGraph {
  url: string
  /** Every request, in arrival order. */
  requests: ReceivedRequest[]
  /** Events Meta would have processed (only from fully accepted requests). */
  accepted: AcceptedEvent[]
  inject(fault: MockFault): void
  close(): Promise<void>
}

export interface MockGraphOptions {
  tokens?: string[]
  expiredTokens?: string[]
  pixels?: string[]
  /** Name the bad event's index in `error_user_msg` (default true). */
  namesIndex?: boolean
  /** Require this `appsecret_proof` when set. */
  appsecretProof?: string
  /** Clock for the 7-day window, epoch ms. */
  now?: () => number
}

const ACTION_SOURCES = new Set([
  'email',
  'website',
  'app',
  'phone_call',
  'chat',
  'physical_store',
  'system_generated',
  'other',
  'business_messaging',
])
const HASHED_KEYS = ['em', 'ph', 'fn', 'ln', 'ge', 'db', 'ct', 'st', 'zp', 'country', 'external_id']
const HEX64 = /^[a-f0-9]{64}$/
/** Graph's own cap on a request body is larger; 8 MiB fits 1,000 full events with room to spare. */
const MAX_BODY = 8 << 20

const traceId = () => randomBytes(8).toString('base64url')

export async function startMockGraph(opts: MockGraphOptions = {}): Promise<MockGraph> {
  const tokens = new Set(opts.tokens ?? ['test-token'])
  const expired = new Set(opts.expiredTokens ?? [])
  const pixels = new Set(opts.pixels ?? ['1234567890'])
  const namesIndex = opts.namesIndex ?? true
  const now = opts.now ?? Date.now
  const faults: MockFault[] = []
  const requests: ReceivedRequest[] = []
  const accepted: AcceptedEvent[] = []

  const server = createServer(async (req, res) => {
    const raw = await readBody(req, MAX_BODY)
    let body: unknown
    try {
      body = raw ? JSON.parse(raw) : {}
    } catch {
      body = undefined
    }
    const record: ReceivedRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body,
      status: 0,
    }
    requests.push(record)
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status
      send(res, status, payload, headers)
    }
    handle(req, body, answer)
  })

  function handle(
    req: IncomingMessage,
    body: unknown,
    answer: (status: number, payload: unknown, headers?: Record<string, string>) => void,
  ) {
    const fbtrace_id = traceId()
    const fail = (status: number, error: GraphError, headers?: Record<string, string>) =>
      answer(status, { error: { type: 'OAuthException', ...error, fbtrace_id } }, headers)

    const url = new URL(req.url ?? '/', 'http://graph.local')
    const m = /^\/(v\d+\.\d+)\/([^/]+)\/events$/.exec(url.pathname)
    if (req.method !== 'POST' || !m)
      return fail(400, { message: 'Unknown path components: ' + url.pathname, code: 2500 })

    const fault = faults.shift()
    if (fault) return playFault(fault, fail, answer)

    if (body === undefined || typeof body !== 'object' || body === null)
      return fail(400, {
        message: 'Invalid parameter',
        code: 100,
        error_user_msg: 'Request body is not valid JSON',
      })
    const b = body as Record<string, unknown>

    const auth = req.headers.authorization
    const token =
      (typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined) ??
      (typeof b.access_token === 'string' ? b.access_token : undefined) ??
      url.searchParams.get('access_token') ??
      undefined
    if (!token)
      return fail(400, { message: 'An access token is required to request this resource.', code: 104 })
    if (expired.has(token))
      return fail(400, {
        message:
          'Error validating access token: Session has expired on Monday, 01-Jan-24 00:00:00 PST. The current time is now.',
        code: 190,
        error_subcode: 463,
      })
    if (!tokens.has(token))
      return fail(400, { message: 'Invalid OAuth access token - Cannot parse access token', code: 190 })
    if (opts.appsecretProof !== undefined && b.appsecret_proof !== opts.appsecretProof)
      return fail(400, { message: 'Invalid appsecret_proof provided in the API argument', code: 100 })

    const pixel = m[2]
    if (!pixels.has(pixel))
      return fail(400, {
        message: `Unsupported post request. Object with ID '${pixel}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
        code: 100,
        error_subcode: 33,
        type: 'GraphMethodException',
      })

    const data = b.data
    if (!Array.isArray(data) || data.length === 0)
      return fail(400, { message: '(#100) The parameter data is required', code: 100 })
    if (data.length > 1000)
      return fail(400, {
        message: 'Invalid parameter',
        code: 100,
        error_user_title: 'Too Many Events',
        error_user_msg: `You sent ${data.length} events; a request can contain at most 1000 events.`,
      })

    const nowS = Math.floor(now() / 1000)
    for (let i = 0; i < data.length; i++) {
      const problem = checkEvent(data[i], nowS)
      if (problem) {
        const where = namesIndex ? ` (data[${i}])` : ''
        return fail(400, {
          message: 'Invalid parameter',
          code: 100,
          error_subcode: problem.subcode,
          error_user_title: problem.title,
          error_user_msg: problem.msg + where,
          is_transient: false,
        })
      }
    }
    const testEventCode = typeof b.test_event_code === 'string' ? b.test_event_code : undefined
    for (const event of data) accepted.push({ pixel, testEventCode, event: event as Record<string, unknown> })
    answer(200, { events_received: data.length, messages: [], fbtrace_id }, { 'x-fb-trace-id': fbtrace_id })
  }

  function playFault(
    fault: MockFault,
    fail: (status: number, error: GraphError, headers?: Record<string, string>) => void,
    answer: (status: number, payload: unknown, headers?: Record<string, string>) => void,
  ) {
    switch (fault.kind) {
      case 'throttle': {
        const code = fault.code ?? 17
        const headers: Record<string, string> = {}
        if (fault.retryAfterS !== undefined) headers['retry-after'] = String(fault.retryAfterS)
        if (fault.regainMinutes !== undefined)
          headers['x-business-use-case-usage'] = JSON.stringify({
            '1234': [
              {
                type: 'ads_management',
                call_count: 100,
                total_cputime: 30,
                total_time: 40,
                estimated_time_to_regain_access: fault.regainMinutes,
              },
            ],
          })
        const messages: Record<number, string> = {
          4: '(#4) Application request limit reached',
          17: '(#17) User request limit reached',
          32: '(#32) Page request limit reached',
          613: '(#613) Calls to this api have exceeded the rate limit.',
          80004: '(#80004) There have been too many calls to this ad-account. Wait a bit and try again.',
        }
        return fail(400, { message: messages[code], code, is_transient: true }, headers)
      }
      case 'auth':
        return fail(400, {
          message:
            fault.subcode === 460
              ? 'Error validating access token: The session has been invalidated because the user changed their password.'
              : 'Error validating access token: Session has expired.',
          code: 190,
          error_subcode: fault.subcode ?? 463,
        })
      case 'transient':
        return fail(500, {
          message:
            fault.code === 1
              ? 'An unknown error occurred'
              : 'An unexpected error has occurred. Please retry your request later.',
          code: fault.code ?? 2,
          is_transient: true,
        })
      case 'server_error':
        return answer(fault.status ?? 502, '<html><body><h1>502 Bad Gateway</h1></body></html>', {
          'content-type': 'text/html',
        })
      case 'raw':
        return answer(fault.status, fault.body, fault.headers)
    }
  }

  return {
    ...(await listenLocal(server)),
    requests,
    accepted,
    inject: (fault) => {
      faults.push(fault)
    },
  }
}

interface Problem {
  subcode?: number
  title: string
  msg: string
}

/** Meta's per-event checks; the first problem found rejects the whole request. */
function checkEvent(raw: unknown, nowS: number): Problem | undefined {
  if (typeof raw !== 'object' || raw === null)
    return { title: 'Invalid Event', msg: 'Each event must be an object.' }
  const e = raw as Record<string, unknown>
  if (typeof e.event_name !== 'string' || e.event_name === '')
    return { title: 'Missing Event Name', msg: 'The parameter event_name is required.' }
  if (typeof e.event_time !== 'number' || !Number.isInteger(e.event_time))
    return {
      title: 'Invalid Event Timestamp',
      msg: 'The parameter event_time must be an integer Unix timestamp in seconds.',
    }
  const maxAge = (e.action_source === 'physical_store' ? 62 : 7) * 86400
  if (nowS - e.event_time > maxAge)
    return {
      subcode: 2804003,
      title: 'Event Timestamp Too Old',
      msg: 'The timestamp for this event is too far in the past. Events need to be sent from your server within 7 days of when they occurred.',
    }
  if (e.event_time - nowS > 60)
    return {
      title: 'Event Timestamp In Future',
      msg: 'The timestamp for this event is in the future. Events must be sent within 7 days of their occurrence or up to one minute in the future.',
    }
  if (typeof e.action_source !== 'string' || !ACTION_SOURCES.has(e.action_source))
    return {
      title: 'Invalid Action Source',
      msg: `The action_source "${String(e.action_source)}" is not supported.`,
    }
  const ud = e.user_data
  if (typeof ud !== 'object' || ud === null || Object.keys(ud).length === 0)
    return {
      title: 'Missing User Data',
      msg: 'This event has no customer information parameters. Add at least one user_data parameter.',
    }
  const ip = (ud as Record<string, unknown>).client_ip_address
  if (ip !== undefined && (typeof ip !== 'string' || isIP(ip) === 0))
    return {
      title: 'Invalid IP Address',
      msg: `The client_ip_address "${String(ip)}" is not a valid IPv4 or IPv6 address.`,
    }
  for (const key of HASHED_KEYS) {
    const v = (ud as Record<string, unknown>)[key]
    if (v === undefined) continue
    const values = Array.isArray(v) ? v : [v]
    if (values.some((x) => typeof x !== 'string' || !HEX64.test(x)))
      return {
        title: 'Unhashed Customer Information',
        msg: `user_data.${key} must be SHA-256 hashed (64 lowercase hex).`,
      }
  }
  const cd = (e.custom_data ?? {}) as Record<string, unknown>
  if (e.event_name === 'Purchase' && (typeof cd.value !== 'number' || typeof cd.currency !== 'string'))
    return {
      subcode: 2804009,
      title: 'Missing Value For Purchase Event',
      msg: 'Purchase events must include custom_data.value and custom_data.currency.',
    }
  if (cd.currency !== undefined && (typeof cd.currency !== 'string' || !/^[A-Za-z]{3}$/.test(cd.currency)))
    return {
      title: 'Invalid Currency Code',
      msg: `The currency "${String(cd.currency)}" is not a valid ISO 4217 code.`,
    }
  return undefined
}

function send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string>) {
  const isText = typeof payload === 'string'
  res.writeHead(status, {
    'content-type': isText ? 'text/plain' : 'application/json; charset=UTF-8',
    ...headers,
  })
  res.end(isText ? payload : JSON.stringify(payload))
}
