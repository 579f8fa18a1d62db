/**
 * TikTok Business API responses → closeloop outcomes. TikTok answers most errors with **HTTP 200** and a
 * non-zero `code` in the body (`{ "code": 40100, "message": "…", "request_id": "…" }`), so the body decides
 * and the HTTP status is used only when the body is not a TikTok answer.
 *
 * | code                                   | class     | outcome                                                  |
 * |----------------------------------------|-----------|----------------------------------------------------------|
 * | 0                                      | ok        | `delivered`                                              |
 * | 40001 (no permission), 40102, 40104, 40105 (token expired / empty / invalid) | auth | `paused` |
 * | 40100 (too many requests)              | throttle  | `throttled`; later batches not sent                      |
 * | 40002 (invalid parameter)              | invalid   | `permanent`; a batch is split until the bad event is alone |
 * | other 4xxxx                            | rejected  | `permanent` with TikTok's message                        |
 * | 5xxxx, 40700 (internal / timeout)      | transient | `retry`                                                  |
 * | not a TikTok body                      | HTTP rule | `classifyHttp` (429 throttled, 5xx retry, …); 401/403 paused |
 * 0, 40001, 40002, 40100 and 40105 are confirmed by public connectors' tests and issue threads; 40102, 40104
 * and 40700 are as remembered from TikTok's public docs (unverified).
 *
 * @example
 *   classifyTikTokResponse(res, Date.now()).outcome.kind // 'throttled' for { code: 40100 }
 */
import type { Outcome } from '../../model/signal.ts'
import { classifyHttp, type HttpResponse, parseRetryAfter } from '../http.ts'
import type { BatchVerdict } from '../isolate.ts'

export interface TikTokAnswer {
  code: number
  message?: string
  request_id?: string
}

const AUTH_CODES = new Set([40001, 40102, 40104, 40105])
const THROTTLE_CODES = new Set([40100])
const INVALID_CODES = new Set([40002])
const TRANSIENT_CODES = new Set([40700])

export type TikTokErrorClass = 'ok' | 'auth' | 'throttle' | 'invalid' | 'rejected' | 'transient'

/**
 * The TikTok answer in a body, or undefined when it is not one (an HTML proxy page, an empty body).
 *
 * @example parseTikTokAnswer('{"code":0,"message":"OK"}') // { code: 0, message: 'OK' }
 */
export function parseTikTokAnswer(body: string): TikTokAnswer | undefined {
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown; request_id?: unknown }
    if (typeof parsed.code !== 'number') return undefined
    return {
      code: parsed.code,
      message: typeof parsed.message === 'string' ? parsed.message : undefined,
      request_id: typeof parsed.request_id === 'string' ? parsed.request_id : undefined,
    }
  } catch {
    return undefined
  }
}

/**
 * The class of a TikTok `code` (see the table above).
 *
 * @example classifyTikTokCode(40105) // 'auth'
 */
export function classifyTikTokCode(code: number): TikTokErrorClass {
  if (code === 0) return 'ok'
  if (AUTH_CODES.has(code)) return 'auth'
  if (THROTTLE_CODES.has(code)) return 'throttle'
  if (INVALID_CODES.has(code)) return 'invalid'
  if (TRANSIENT_CODES.has(code) || code >= 50000) return 'transient'
  return 'rejected'
}

/** An outcome plus what the sender should do with a multi-event batch (`../isolate.ts`). */
export type TikTokVerdict = BatchVerdict

/**
 * Classify one response for the request that produced it.
 *
 * @example classifyTikTokResponse({ status: 200, body: '{"code":0,"message":"OK"}', … }, now).outcome.kind // 'delivered'
 */
export function classifyTikTokResponse(res: HttpResponse, now: number): TikTokVerdict {
  const answer = res.status === undefined ? undefined : parseTikTokAnswer(res.body)
  if (!answer) {
    const http = classifyHttp(res, now)
    // a gateway refusing the credential: every event would fail alike
    const outcome: Outcome = res.status === 401 || res.status === 403 ? { ...http, kind: 'paused' } : http
    if (outcome.kind === 'delivered')
      // a 2xx TikTok did not write proves nothing: retry rather than report a delivery
      return {
        outcome: {
          ...outcome,
          kind: 'retry',
          code: 'TIKTOK_UNREADABLE',
          message: 'answer is not TikTok JSON',
        },
        isolate: false,
        halt: false,
      }
    return { outcome, isolate: false, halt: outcome.kind === 'paused' || outcome.kind === 'throttled' }
  }
  const { exchange } = res
  const code = `TIKTOK_${answer.code}`
  const message = `${answer.message ?? 'TikTok error'}${answer.request_id ? ` [request_id ${answer.request_id}]` : ''}`
  switch (classifyTikTokCode(answer.code)) {
    case 'ok':
      return { outcome: { kind: 'delivered', exchange, code, message }, isolate: false, halt: false }
    case 'auth':
      return { outcome: { kind: 'paused', exchange, code, message }, isolate: false, halt: true }
    case 'throttle':
      return {
        outcome: {
          kind: 'throttled',
          exchange,
          code,
          message,
          retryAfterMs: parseRetryAfter(res.headers['retry-after'], now),
        },
        isolate: false,
        halt: true,
      }
    case 'invalid': {
      const m = /\bdata\[(\d+)\]/.exec(answer.message ?? '')
      return {
        outcome: { kind: 'permanent', exchange, code, message },
        isolate: true,
        badIndex: m ? Number(m[1]) : undefined,
        halt: false,
      }
    }
    case 'rejected':
      return { outcome: { kind: 'permanent', exchange, code, message }, isolate: false, halt: false }
    case 'transient':
      return { outcome: { kind: 'retry', exchange, code, message }, isolate: false, halt: false }
  }
}
