/**
 * ECAPI partner responses → closeloop outcomes. ECAPI defines HTTP status codes only, no error body
 * (ecapi.md §4), so the status decides; a JSON body's `error` / `message` is kept for the trace.
 *
 * | status                     | class      | outcome                                                          |
 * |----------------------------|------------|------------------------------------------------------------------|
 * | 2xx                        | ok         | `delivered` (every event of the request)                         |
 * | 400                        | invalid    | `permanent`; a batch is split until each bad event is alone      |
 * | 401, 403                   | auth       | `paused`: every event would fail until the credential is fixed   |
 * | 404                        | not found  | `permanent` (ECAPI: "resource does not exist")                   |
 * | 410                        | gone       | `paused` (Standard Webhooks: disable the endpoint)               |
 * | 429                        | throttle   | `throttled`, `Retry-After` honoured; later batches not sent      |
 * | 408, 425, 5xx, network     | transient  | `retry` with backoff                                             |
 * | other 4xx, 3xx             | rejected   | `permanent`                                                      |
 *
 * @example
 *   const verdict = classifyEcapiResponse(res, Date.now())
 *   if (verdict.isolate && batch.length > 1) bisect(batch)
 */
import type { Outcome } from '../../model/signal.ts'
import { classifyHttp, type HttpResponse } from '../http.ts'
import type { BatchVerdict } from '../isolate.ts'

/** An outcome plus what the sender should do with a multi-event batch (`../isolate.ts`). */
export type EcapiVerdict = BatchVerdict

/**
 * The partner's own words from a JSON error body (`error` string or `{ message }`, or `message`), if any.
 *
 * @example partnerMessage('{"error":{"message":"bad event_type"}}') // 'bad event_type'
 */
export function partnerMessage(body: string): string | undefined {
  if (!body.startsWith('{')) return undefined
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown }
    const err = parsed.error
    if (typeof err === 'string') return err
    if (err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string')
      return (err as { message: string }).message
    return typeof parsed.message === 'string' ? parsed.message : undefined
  } catch {
    return undefined
  }
}

/**
 * Classify one partner response for the request that produced it (see the table above).
 *
 * @example
 *   classifyEcapiResponse({ status: 401, … }, now).outcome.kind // 'paused'
 */
export function classifyEcapiResponse(res: HttpResponse, now: number): EcapiVerdict {
  const base = classifyHttp(res, now)
  const said = res.status === undefined ? undefined : partnerMessage(res.body)
  const outcome: Outcome = said ? { ...base, message: `${base.message ?? base.code}: ${said}` } : base
  if (base.kind === 'delivered') return { outcome: base, isolate: false, halt: false }
  if (res.status === 401 || res.status === 403)
    return {
      outcome: {
        ...outcome,
        kind: 'paused',
        message: `credential rejected (HTTP ${res.status})${said ? `: ${said}` : ''}`,
      },
      isolate: false,
      halt: true,
    }
  if (res.status === 400) return { outcome, isolate: true, halt: false }
  return { outcome, isolate: false, halt: outcome.kind === 'paused' || outcome.kind === 'throttled' }
}
