/**
 * The report queries (`deliveryTallies`, `intakeTallies`) over a time range. Each is one statement with a
 * timeout of its own (`longRead`): eight days of 1,000,000 deliveries took 1.8 s here, and a busier
 * database's reports would otherwise fail on the pool's 5 s. They share the pool with ingest, so at most
 * `REPORT_READS` run at once per node (`reportReads`): a few open dashboards must not hold the connections
 * that ingest waits for.
 */
import type pg from 'pg'
import {
  bucketSql,
  deliveryTally,
  eventTally,
  HOURS,
  idRange,
  signalTally,
  UNROUTED_SQL,
} from '../tallies.ts'
import type { DeliveryTally, EventTally, SignalTally, TallyBuckets, TimeRange } from '../types.ts'
import { longRead } from './pool.ts'

/** Deliveries by the range of their time-ordered ids, each joined to its signal by primary key. */
export async function deliveryTallies(
  pool: pg.Pool,
  range: TimeRange,
  buckets: TallyBuckets = HOURS,
): Promise<DeliveryTally[]> {
  const rows = await longRead<Record<string, unknown>>(
    pool,
    `SELECT ${bucketSql('d.created_at', buckets)} AS hour, s.body #>> '{event,ext,call,campaign}' AS campaign,
       d.destination, s.name AS signal, s.currency, d.status, count(*) AS deliveries,
       count(*) FILTER (WHERE d.status = 'delivered' AND d.match_keys IS NOT NULL) AS reported,
       count(*) FILTER (WHERE d.status = 'delivered' AND d.match_keys <> '') AS matched,
       COALESCE(sum(s.value), 0) AS value
     FROM deliveries d JOIN signals s ON s.id = d.signal_id
     WHERE d.id >= $1 AND d.id < $2
     GROUP BY 1, 2, 3, 4, 5, 6`,
    idRange('dlv', range),
  )
  return rows.map(deliveryTally)
}

/** Events by their time-ordered ids; signals (ids in conversion time) by a scan of `created_at`. */
export async function intakeTallies(
  pool: pg.Pool,
  range: TimeRange,
  buckets: TallyBuckets = HOURS,
): Promise<{ events: EventTally[]; signals: SignalTally[] }> {
  const events = await longRead<Record<string, unknown>>(
    pool,
    `SELECT ${bucketSql('e.created_at', buckets)} AS hour, COALESCE(r.source, 'unknown') AS source,
       e.body #>> '{ext,call,campaign}' AS campaign, e.status, count(*) AS events
     FROM events e LEFT JOIN raw_inputs r ON r.id = e.raw_id
     WHERE e.id >= $1 AND e.id < $2
     GROUP BY 1, 2, 3, 4`,
    idRange('evt', range),
  )
  const signals = await longRead<Record<string, unknown>>(
    pool,
    `SELECT ${bucketSql('s.created_at', buckets)} AS hour, s.body #>> '{event,ext,call,campaign}' AS campaign,
       s.name AS signal, s.currency, count(*) AS signals, COALESCE(sum(s.value), 0) AS value,
       count(*) FILTER (WHERE ${UNROUTED_SQL}) AS unrouted,
       COALESCE(sum(s.value) FILTER (WHERE ${UNROUTED_SQL}), 0) AS unrouted_value
     FROM signals s WHERE s.created_at >= $1 AND s.created_at < $2
     GROUP BY 1, 2, 3, 4`,
    [range.fromMs, range.toMs],
  )
  return { events: events.map(eventTally), signals: signals.map(signalTally) }
}

/** Report reads at once per node: the pool's other connections stay for ingest and delivery. */
const REPORT_READS = 2

/**
 * Runs at most `n` of the calls given to it at once; the rest wait their turn, first come first served.
 *
 * @example const limited = concurrencyLimit(2); await Promise.all(jobs.map((j) => limited(() => run(j))))
 */
export function concurrencyLimit(n: number) {
  let running = 0
  const waiting: Array<() => void> = []
  return async function limited<T>(call: () => Promise<T>): Promise<T> {
    // a finished call hands its slot to the next waiting one, so a newcomer cannot slip in between
    if (running >= n) await new Promise<void>((r) => waiting.push(r))
    else running++
    try {
      return await call()
    } finally {
      const next = waiting.shift()
      if (next) next()
      else running--
    }
  }
}

/** The report queries on `pool`, at most `REPORT_READS` at a time. */
export function reportReads(pool: pg.Pool) {
  const limited = concurrencyLimit(REPORT_READS)
  return {
    deliveryTallies: (range: TimeRange, buckets?: TallyBuckets) =>
      limited(() => deliveryTallies(pool, range, buckets)),
    intakeTallies: (range: TimeRange, buckets?: TallyBuckets) =>
      limited(() => intakeTallies(pool, range, buckets)),
  }
}
