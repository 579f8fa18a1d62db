/**
 * The report queries' rows as both stores answer them (the same column names; PostgreSQL's counts arrive
 * as strings) turned into tallies, and the time range as id bounds.
 */
import type { Delivery } from '../model/signal.ts'
import { idFloor } from './ids.ts'
import type { DeliveryTally, EventTally, SignalTally, TallyBuckets, TimeRange } from './types.ts'

type Row = Record<string, unknown>

/** Epoch ms per hour: the tallies' bucket unless a report asks for others. */
export const HOUR_MS = 3_600_000

/** Hours since the epoch. */
export const HOURS: TallyBuckets = { ms: HOUR_MS, startMs: 0 }

/**
 * SQL for the start of the bucket `col` (epoch ms) falls in. Both numbers are integers the store computed,
 * never input, so they are written into the statement.
 */
export function bucketSql(col: string, b: TallyBuckets): string {
  const ms = Math.trunc(b.ms)
  const start = Math.trunc(b.startMs)
  return `(${start} + ((${col} - ${start}) / ${ms}) * ${ms})`
}

/** `[from, to)` of the ids `newId(prefix, t)` gives for t in `range`. */
export function idRange(prefix: string, range: TimeRange): [string, string] {
  return [idFloor(prefix, range.fromMs), idFloor(prefix, range.toMs)]
}

const text = (v: unknown) => (v === null || v === undefined ? null : String(v))

export const deliveryTally = (r: Row): DeliveryTally => ({
  hour: Number(r.hour),
  campaign: text(r.campaign),
  destination: String(r.destination),
  signal: String(r.signal),
  currency: text(r.currency),
  status: r.status as Delivery['status'],
  deliveries: Number(r.deliveries),
  reported: Number(r.reported),
  matched: Number(r.matched),
  value: Number(r.value),
})

export const eventTally = (r: Row): EventTally => ({
  hour: Number(r.hour),
  source: String(r.source),
  campaign: text(r.campaign),
  status: r.status as EventTally['status'],
  events: Number(r.events),
})

export const signalTally = (r: Row): SignalTally => ({
  hour: Number(r.hour),
  campaign: text(r.campaign),
  signal: String(r.signal),
  currency: text(r.currency),
  signals: Number(r.signals),
  value: Number(r.value),
  unrouted: Number(r.unrouted),
  unroutedValue: Number(r.unrouted_value),
})

/** SQL: the signal `s` has no delivery (no route sent it anywhere); served by deliveries' (signal_id, …) key. */
export const UNROUTED_SQL = 'NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.signal_id = s.id)'
