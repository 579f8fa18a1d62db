/**
 * Meta Graph API responses → closeloop outcomes, by Meta's error `code`/`error_subcode` first (Graph answers
 * throttling and auth failures with HTTP 400, so the status alone misleads) and by HTTP status only when the
 * body is not a Graph error (an HTML page from a proxy, a timeout).
 *
 * | Graph code                                  | class     | outcome                                           |
 * |---------------------------------------------|-----------|---------------------------------------------------|
 * | 190, 102, 104 (token invalid/expired/missing)| auth      | `paused`: every event would fail; alert, hold     |
 * | 3, 10, 200–299 (incl. 294), 100 + subcode 33 | config   | `paused`: no capability/permission/pixel          |
 * | 100 + message about `appsecret_proof`        | config    | `paused`: wrong app secret                        |
 * | 4, 17, 32, 613, 80000–80014                 | throttle  | `throttled`, Retry-After or usage-header delay    |
 * | 1, 2, 341, 368, 5000, 21009                 | transient | `retry` with backoff                              |
 * | 100 (other subcodes)                        | invalid   | `permanent` per event, after batch isolation      |
 * | 105, 2650, 2655, 1487301, 1487366           | rejected  | `permanent` per event, after batch isolation      |
 * | anything else                               | transient | `retry`; the engine caps attempts                 |
 *
 * @example
 *   const verdict = classifyResponse(res, Date.now())
 *   if (verdict.isolate && batch.length > 1) bisect(batch)
 */

import { classifyHttp, type HttpResponse, parseRetryAfter } from '../http.ts'
import type { BatchVerdict } from '../isolate.ts'

/** The `error` object of a Graph API error body. */
export interface GraphError {
  message?: string
  type?: string
  code?: number
  error_subcode?: number
  error_user_title?: string
  error_user_msg?: string
  fbtrace_id?: string
  is_transient?: boolean
}

export type MetaErrorClass = 'auth' | 'config' | 'throttle' | 'transient' | 'invalid' | 'rejected'

const AUTH_CODES = new Set([190, 102, 104])
const CONFIG_CODES = new Set([3, 10])
const THROTTLE_CODES = new Set([4, 17, 32, 613])
const TRANSIENT_CODES = new Set([1, 2, 341, 368, 5000, 21009])
const REJECTED_CODES = new Set([105, 2650, 2655, 1487301, 1487366])
/** Subcode of code 100 meaning "object (pixel/dataset) does not exist or no permission": a config error. */
const SUBCODE_OBJECT_NOT_FOUND = 33

/**
 * The Graph `error` object in a response body, or undefined when the body is not a Graph error.
 *
 * @example
 *   parseGraphError('{"error":{"code":190,"message":"Invalid OAuth access token"}}')?.code // 190
 */
export function parseGraphError(body: string): GraphError | undefined {
  if (!body.startsWith('{')) return undefined
  try {
    const parsed: unknown = JSON.parse(body)
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const error = (parsed as { error?: unknown }).error
    if (typeof error !== 'object' || error === null) return undefined
    return error as GraphError
  } catch {
    return undefined
  }
}

/**
 * Which kind of failure a Graph error is (see the table above).
 *
 * @example
 *   classifyGraphError({ code: 100, error_subcode: 2804003 }) // 'invalid'
 */
export function classifyGraphError(err: GraphError): MetaErrorClass {
  const code = err.code ?? -1
  if (AUTH_CODES.has(code)) return 'auth'
  if (CONFIG_CODES.has(code) || (code >= 200 && code <= 299)) return 'config'
  if (code === 100) {
    if (err.error_subcode === SUBCODE_OBJECT_NOT_FOUND) return 'config'
    // a wrong app secret is reported as code 100 too, but it is about the request, not an event: isolating
    // would resend every event alone and dead-letter them all
    if (/appsecret_proof/i.test(err.message ?? '')) return 'config'
    return 'invalid'
  }
  if (THROTTLE_CODES.has(code) || (code >= 80000 && code <= 80014)) return 'throttle'
  if (TRANSIENT_CODES.has(code)) return 'transient'
  if (REJECTED_CODES.has(code)) return 'rejected'
  return 'transient'
}

/**
 * Stable outcome code: `META_<code>` or `META_<code>_<subcode>`.
 *
 * @example
 *   metaErrorCode({ code: 190, error_subcode: 463 }) // 'META_190_463'
 */
export function metaErrorCode(err: GraphError): string {
  return err.error_subcode ? `META_${err.code}_${err.error_subcode}` : `META_${err.code ?? 'UNKNOWN'}`
}

/**
 * Meta's own words, most specific first (the user title and message name the bad field), with the trace id
 * Meta support asks for.
 *
 * @example
 *   metaErrorMessage({ message: 'Invalid parameter', error_user_title: 'Event Timestamp Too Old', … })
 *   // 'Event Timestamp Too Old: The timestamp … (Invalid parameter) [fbtrace_id AbC]'
 */
export function metaErrorMessage(err: GraphError): string {
  const head = [err.error_user_title, err.error_user_msg].filter(Boolean).join(': ')
  const text = head ? (err.message ? `${head} (${err.message})` : head) : (err.message ?? 'Meta error')
  return err.fbtrace_id ? `${text} [fbtrace_id ${err.fbtrace_id}]` : text
}

/**
 * The index of the offending event when Meta's message names one (`data[3]`, `index 3`), so isolation can
 * split it off directly instead of bisecting. Only a hint: the isolating resend confirms it.
 *
 * @example
 *   badEventIndex({ error_user_msg: 'Missing value (data[3])' }) // 3
 */
export function badEventIndex(err: GraphError): number | undefined {
  const text = `${err.error_user_msg ?? ''} ${err.message ?? ''}`
  const m = /\bdata\[(\d+)\]|\bindex:?\s*(\d+)/i.exec(text)
  if (!m) return undefined
  return Number(m[1] ?? m[2])
}

/**
 * Delay Meta announces in its usage headers when throttling: `estimated_time_to_regain_access` (minutes) in
 * `x-business-use-case-usage` (`{ "<business id>": [{ …, "estimated_time_to_regain_access": 5 }] }`).
 *
 * @example
 *   regainAccessMs({ 'x-business-use-case-usage': '{"1":[{"estimated_time_to_regain_access":2}]}' }) // 120000
 */
export function regainAccessMs(headers: Record<string, string>): number | undefined {
  const raw = headers['x-business-use-case-usage']
  if (!raw) return undefined
  try {
    const parsed: unknown = JSON.parse(raw)
    let minutes = 0
    for (const entries of Object.values(parsed as Record<string, unknown>))
      for (const entry of Array.isArray(entries) ? entries : []) {
        const m = (entry as { estimated_time_to_regain_access?: unknown }).estimated_time_to_regain_access
        if (typeof m === 'number' && m > minutes) minutes = m
      }
    return minutes > 0 ? minutes * 60_000 : undefined
  } catch {
    return undefined
  }
}

/** An outcome plus what the sender should do with a multi-event batch (`../isolate.ts`). */
export type Verdict = BatchVerdict

/**
 * Classify one Graph response for the batch that produced it.
 *
 * @example
 *   classifyResponse({ status: 200, body: '{"events_received":3,"fbtrace_id":"x"}', … }, now).outcome.kind
 *   // 'delivered'
 */
export function classifyResponse(res: HttpResponse, now: number): Verdict {
  const { exchange, status } = res
  if (status !== undefined && status >= 200 && status < 300) {
    const ok = parseSuccess(res.body)
    return {
      outcome: {
        kind: 'delivered',
        exchange,
        code: `HTTP_${status}`,
        message: ok ? `events_received=${ok.events_received} fbtrace_id=${ok.fbtrace_id ?? '-'}` : undefined,
      },
      isolate: false,
      halt: false,
    }
  }
  const err = status === undefined ? undefined : parseGraphError(res.body)
  if (!err) {
    // not a Graph answer (network error, timeout, HTML from a proxy): the generic HTTP rule
    const outcome = classifyHttp(res, now)
    return { outcome, isolate: false, halt: outcome.kind === 'paused' || outcome.kind === 'throttled' }
  }
  const code = metaErrorCode(err)
  const message = metaErrorMessage(err)
  const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now) ?? regainAccessMs(res.headers)
  switch (classifyGraphError(err)) {
    case 'auth':
    case 'config':
      return { outcome: { kind: 'paused', exchange, code, message }, isolate: false, halt: true }
    case 'throttle':
      return {
        outcome: { kind: 'throttled', exchange, code, message, retryAfterMs },
        isolate: false,
        halt: true,
      }
    case 'transient':
      return {
        outcome: { kind: 'retry', exchange, code, message, retryAfterMs },
        isolate: false,
        halt: false,
      }
    case 'invalid':
      return {
        outcome: { kind: 'permanent', exchange, code, message },
        isolate: true,
        badIndex: badEventIndex(err),
        halt: false,
      }
    case 'rejected':
      // Meta rejects the whole request for what may be one event's fault (105: too many parameters): a batch
      // is split to find it, or one bad event would dead-letter the other 999
      return {
        outcome: { kind: 'permanent', exchange, code, message },
        isolate: true,
        badIndex: badEventIndex(err),
        halt: false,
      }
  }
}

function parseSuccess(body: string): { events_received: number; fbtrace_id?: string } | undefined {
  try {
    const parsed = JSON.parse(body) as { events_received?: unknown; fbtrace_id?: unknown }
    if (typeof parsed.events_received !== 'number') return undefined
    return {
      events_received: parsed.events_received,
      fbtrace_id: typeof parsed.fbtrace_id === 'string' ? parsed.fbtrace_id : undefined,
    }
  } catch {
    return undefined
  }
}
