/**
 * Dedup keys (DESIGN §1.3). ECAPI events: `(data_set_id, id)`. Call events without an ECAPI id:
 * `data_set_id + call_id + call event type + floor(timestamp, 5 s)`: a platform that re-sends the same callback within
 * seconds is one event, while a later status of the same call is another. When the event carries an order
 * or an amount, a digest of them joins the key: a CRM's second order on the same call, or a corrected
 * amount sent within the same 5 s, is news, not a repeat (both were dropped as duplicates before), while
 * a repeated callback carries the same facts and still dedupes.
 *
 * @example
 *   dedupKey({ data_set_id: 'a', id: 'x', … }) // 'ecapi:a:x'
 *   dedupKey({ …, ext: { call: { call_id: 'CA1', status: 'answered' } }, timestamp: 1700000003 }) // 'call:a:CA1:answered:340000000'
 *   dedupKey({ …, value: 900, properties: { transaction_id: 'POL-2' }, … }) // 'call:a:CA1:close_convert_lead:340000000:1f0c…'
 */
import { hash } from 'node:crypto'
import type { EcapiEvent } from '../model/ecapi.ts'
import { scopeOf } from './names.ts'

/** Seconds per call dedup bucket: repeated webhooks arrive within a few seconds of each other. */
export const CALL_DEDUP_BUCKET_S = 5

export function dedupKey(e: EcapiEvent): string | undefined {
  if (e.id !== undefined) return `ecapi:${e.data_set_id}:${e.id}`
  const call = e.ext?.call
  if (!call?.call_id) return undefined
  const type = call.disposition ? `disposition:${call.disposition}` : (call.status ?? e.event_type)
  const key = `call:${scopeOf(e.data_set_id)}:${call.call_id}:${type}:${Math.floor(e.timestamp / CALL_DEDUP_BUCKET_S)}`
  const facts = [
    e.properties?.transaction_id,
    e.value,
    e.currency_code,
    call.revenue,
    call.payout,
    call.predicted_value,
    call.duration_s,
  ]
  if (facts.every((f) => f === undefined)) return key
  return `${key}:${hash('sha256', JSON.stringify(facts), 'hex').slice(0, 16)}`
}
