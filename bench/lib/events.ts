/**
 * Request bodies the load generator sends: minimal valid ECAPI `contact` events, unique per run so the
 * dedup key (`data_set_id + id`) never turns a measured request into a duplicate.
 */
import { randomBytes } from 'node:crypto'
import { DATA_SET_ID } from './closeloop.ts'

/** A prefix per process run: rounds and scenarios against one database never collide. */
const RUN = randomBytes(4).toString('hex')
let seq = 0

/** A fresh unique id; also carried in `ext.bench_id` so a postback can echo it back. */
export function nextId(): string {
  return `${RUN}-${(seq++).toString(36)}`
}

export function eventFor(id: string) {
  return {
    data_set_id: DATA_SET_ID,
    id,
    timestamp: Math.floor(Date.now() / 1000),
    event_type: 'contact',
    value: 1,
    currency_code: 'USD',
    ext: { bench_id: id },
  }
}

/** One event per request, with its id. */
export function singleBody(): { id: string; body: string } {
  const id = nextId()
  return { id, body: JSON.stringify(eventFor(id)) }
}

/** `{ events: [...] }` with `size` events. */
export function batchBody(size: number): string {
  const events = []
  for (let i = 0; i < size; i++) events.push(eventFor(nextId()))
  return JSON.stringify({ events })
}
