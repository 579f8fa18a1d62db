/**
 * Dedup keys (DESIGN §1.3). ECAPI events: `(data_set_id, id)`. Call events without an ECAPI id:
 * `call_id + call event type + floor(timestamp, 5 s)`: a platform that re-sends the same callback within
 * seconds is one event, while a later status of the same call is another.
 *
 * @example
 *   dedupKey({ data_set_id: 'a', id: 'x', … }) // 'ecapi:a:x'
 *   dedupKey({ …, ext: { call: { call_id: 'CA1', status: 'answered' } }, timestamp: 1700000003 }) // 'call:CA1:answered:340000000'
 */
import type { EcapiEvent } from '../model/ecapi.ts'

/** Seconds per call dedup bucket: repeated webhooks arrive within a few seconds of each other. */
export const CALL_DEDUP_BUCKET_S = 5

export function dedupKey(e: EcapiEvent): string | undefined {
  if (e.id !== undefined) return `ecapi:${e.data_set_id}:${e.id}`
  const call = e.ext?.call
  if (!call?.call_id) return undefined
  const type = call.disposition ? `disposition:${call.disposition}` : (call.status ?? e.event_type)
  return `call:${call.call_id}:${type}:${Math.floor(e.timestamp / CALL_DEDUP_BUCKET_S)}`
}
