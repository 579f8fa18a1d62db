/**
 * Native ECAPI 1.0 ingest: `POST /v1/events` with one event or `{ "events": [...] }`.
 * Reads the body into per-event verdicts: a valid, normalized event, or a rejection with its paths.
 * Cross-field rules the schema cannot say (custom_event with custom, currency with value) live here.
 *
 * @example
 *   readEcapiBody({ events: [ev1, ev2] }, 1000) // { items: [{ index: 0, event }, { index: 1, errors }] }
 */

import { EcapiEvent } from '../../model/ecapi.ts'
import { appError, type ErrorDetail } from '../../model/errors.ts'
import { validator } from '../../model/validate.ts'
import { normalizeEcapiEvent } from './normalize.ts'

const check = validator(EcapiEvent)

export type EventVerdict = { index: number; event: EcapiEvent } | { index: number; errors: ErrorDetail[] }

export function readEcapiBody(
  body: unknown,
  maxEvents: number,
): { batch: boolean; verdicts: EventVerdict[] } {
  const isBatch = typeof body === 'object' && body !== null && !Array.isArray(body) && 'events' in body
  if (Array.isArray(body))
    throw appError('E_EVENT_INVALID', 'expected an event object or { "events": [...] }', [
      { path: '/', message: 'expected an object' },
    ])
  const list = isBatch ? (body as { events: unknown }).events : [body]
  if (!Array.isArray(list))
    throw appError('E_EVENT_INVALID', 'events must be an array', [
      { path: '/events', message: 'expected an array' },
    ])
  if (list.length === 0)
    throw appError('E_EVENT_INVALID', 'no events', [{ path: '/events', message: 'at least 1 item(s)' }])
  if (list.length > maxEvents)
    throw appError('E_BATCH_TOO_LARGE', `at most ${maxEvents} events per request`, [
      { path: '/events', message: `at most ${maxEvents} items` },
    ])
  const prefix = isBatch ? '/events/' : ''
  const verdicts = list.map((raw, index): EventVerdict => {
    const event = normalizeEcapiEvent(raw)
    const errors = [...check(event), ...crossFieldErrors(event)]
    if (errors.length === 0) return { index, event: event as EcapiEvent }
    return {
      index,
      errors: errors.map((d) => ({
        path: `${isBatch ? `${prefix}${index}` : ''}${d.path === '/' ? '' : d.path}` || '/',
        message: d.message,
      })),
    }
  })
  return { batch: isBatch, verdicts }
}

function crossFieldErrors(ev: unknown): ErrorDetail[] {
  if (typeof ev !== 'object' || ev === null) return []
  const e = ev as Partial<EcapiEvent>
  const out: ErrorDetail[] = []
  if (e.event_type === 'custom' && !e.custom_event)
    out.push({ path: '/custom_event', message: 'required when event_type is custom' })
  if (e.value !== undefined && !e.currency_code)
    out.push({ path: '/currency_code', message: 'required when value is set' })
  return out
}
