/** Read-side queries: trace, next due time, counts, destination state. Plain statements, no transaction. */
import type pg from 'pg'
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { Attempt, Exchange, Signal } from '../../model/signal.ts'
import { signalFromStored } from '../signal-body.ts'
import type { RawInput, StoreCounts, Trace } from '../types.ts'
import type { DbClock } from './clock.ts'
import { type DeliveryRow, toDelivery } from './deliveries.ts'
import { json, query } from './pool.ts'

type EventRow = {
  id: string
  raw_id: string
  status: string
  dedup_key: string | null
  duplicate_of: string | null
  created_at: number
  body: EcapiEvent
}
type RawRow = {
  id: string
  source: string
  kind: string
  received_at: number
  content_type: string | null
  headers: Record<string, string>
  body: string
  status: number | null
  result: unknown
}
type AttemptRow = {
  id: string
  delivery_id: string
  n: number
  started_at: number
  outcome: Attempt['outcome']
  code: string | null
  message: string | null
  exchange: Exchange | null
}

export async function trace(pool: pg.Pool, eventId: string): Promise<Trace | undefined> {
  const [e] = await query<EventRow>(pool, 'SELECT * FROM events WHERE id = $1', [eventId])
  if (!e) return undefined
  const [raw] = await query<RawRow>(pool, 'SELECT * FROM raw_inputs WHERE id = $1', [e.raw_id])
  // a duplicate's trace shows what its original produced
  const sourceEvent = e.duplicate_of ?? eventId
  const signals = (
    await query<{ body: Signal }>(
      pool,
      'SELECT body FROM signals WHERE event_id = $1 ORDER BY created_at, id',
      [sourceEvent],
    )
  ).map((r) => signalFromStored(r.body))
  const ids = signals.map((s) => s.id)
  const deliveryRows = ids.length
    ? await query<DeliveryRow>(
        pool,
        'SELECT * FROM deliveries WHERE signal_id = ANY($1::text[]) ORDER BY id',
        [ids],
      )
    : []
  const attemptRows = deliveryRows.length
    ? await query<AttemptRow>(
        pool,
        'SELECT * FROM attempts WHERE delivery_id = ANY($1::text[]) ORDER BY n, id',
        [deliveryRows.map((d) => d.id)],
      )
    : []
  const order = new Map(ids.map((id, i) => [id, i]))
  const deliveries: Trace['deliveries'] = deliveryRows
    .sort((a, b) => (order.get(a.signal_id) ?? 0) - (order.get(b.signal_id) ?? 0) || (a.id < b.id ? -1 : 1))
    .map((d) => ({
      ...toDelivery(d),
      attemptLog: attemptRows.filter((a) => a.delivery_id === d.id).map(toAttempt),
    }))
  return {
    event: {
      id: e.id,
      status: e.status,
      dedupKey: e.dedup_key ?? undefined,
      duplicateOf: e.duplicate_of ?? undefined,
      createdAt: e.created_at,
      event: e.body,
    },
    raw: raw ? toRaw(raw) : undefined,
    signals,
    deliveries,
  }
}

const toAttempt = (r: AttemptRow): Attempt => ({
  id: r.id,
  deliveryId: r.delivery_id,
  n: r.n,
  startedAt: r.started_at,
  outcome: r.outcome,
  code: r.code ?? undefined,
  message: r.message ?? undefined,
  exchange: r.exchange ?? undefined,
})

const toRaw = (r: RawRow): RawInput => ({
  id: r.id,
  source: r.source,
  kind: r.kind,
  receivedAt: r.received_at,
  contentType: r.content_type ?? undefined,
  headers: r.headers,
  body: r.body,
  status: r.status ?? undefined,
  result: r.result ?? undefined,
})

/**
 * Earliest pending due time or lease expiry of `destinations`, or timer, NULLs ignored by LEAST. Each
 * destination's earliest row is the first entry of its own index (`deliveries_*_by_destination`), so
 * this costs one index probe per destination whatever the backlog.
 */
export async function nextDue(
  pool: pg.Pool,
  clock: DbClock,
  destinations: readonly string[],
): Promise<number | undefined> {
  const first = (status: string, column: string) =>
    `(SELECT min(x.t) FROM unnest($1::text[]) AS dest(name), LATERAL (
       SELECT ${column} AS t FROM deliveries WHERE status = '${status}' AND destination = dest.name
       ORDER BY ${column} LIMIT 1) x)`
  const [r] = await query<{ due: number | null; lease: number | null }>(
    pool,
    `SELECT LEAST(${first('pending', 'due_at')}, (SELECT min(due_at) FROM timers)) AS due,
       ${first('in_flight', 'lease_until')} AS lease`,
    [[...destinations]],
  )
  // leases are in server time (clock.ts)
  const lease = r.lease === null ? undefined : clock.fromDb(r.lease)
  const due = r.due ?? undefined
  return due === undefined ? lease : lease === undefined ? due : Math.min(due, lease)
}

/**
 * Tables above this many rows (by the planner's estimate) are not counted row by row. Three exact counts
 * over 1,000,000 events, signals and deliveries took 200–300 ms of the database per call (measured on the
 * benchmark VM), and the dashboard asks every 5 s: at tens of millions of rows the database would spend
 * most of a core on the dashboard, and past 5 s the count fails on the statement timeout.
 */
export const EXACT_COUNT_LIMIT = 200_000

/**
 * The planner's row estimate of a table, scaled to its current size as the planner does (rows per page at
 * the last ANALYZE × pages now), so it follows growth between ANALYZEs; null if never analyzed.
 */
const ESTIMATE = `
SELECT c.relname AS name,
  CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN NULL
       ELSE c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::float8) END AS rows
FROM pg_class c WHERE c.oid IN ('events'::regclass, 'signals'::regclass, 'deliveries'::regclass)`

/**
 * Exact counts while tables are small. A table past `exactLimit` (by estimate) gives its estimate instead,
 * named in `approximate`. Pending, in-flight, dead and skipped deliveries are always counted, each on an
 * index that reads only its own rows (`deliveries_due`, `deliveries_lease`, then `deliveries_status`):
 * they are what an operator acts on. `delivered` is then the table's estimate less those.
 */
export async function counts(pool: pg.Pool, exactLimit = EXACT_COUNT_LIMIT): Promise<StoreCounts> {
  const estimates = new Map<string, number | null>()
  for (const r of await query<{ name: string; rows: number | null }>(pool, ESTIMATE))
    estimates.set(r.name, r.rows === null ? null : Math.round(Number(r.rows)))
  const large = (table: string) => (estimates.get(table) ?? 0) > exactLimit
  const approximate: string[] = []
  const exactCount = async (table: string) =>
    Number((await query<{ n: string }>(pool, `SELECT count(*) AS n FROM ${table}`))[0].n)
  const tableCount = async (table: string) => {
    if (!large(table)) return exactCount(table)
    approximate.push(table)
    return Number(estimates.get(table))
  }
  const deliveries: Record<string, number> = {}
  if (!large('deliveries')) {
    for (const r of await query<{ status: string; n: string }>(
      pool,
      'SELECT status, count(*) AS n FROM deliveries GROUP BY status',
    ))
      deliveries[r.status] = Number(r.n)
  } else {
    const open = await query<{ status: string; n: string }>(
      pool,
      `SELECT 'pending' AS status, count(*) AS n FROM deliveries WHERE status = 'pending'
       UNION ALL SELECT 'in_flight', count(*) FROM deliveries WHERE status = 'in_flight'
       UNION ALL SELECT 'dead', count(*) FROM deliveries WHERE status = 'dead'
       UNION ALL SELECT 'skipped', count(*) FROM deliveries WHERE status = 'skipped'`,
    )
    let rest = Number(estimates.get('deliveries'))
    for (const r of open) {
      if (Number(r.n) > 0) deliveries[r.status] = Number(r.n)
      rest -= Number(r.n)
    }
    deliveries.delivered = Math.max(0, rest)
    approximate.push('deliveries.delivered')
  }
  const events = await tableCount('events')
  const signals = await tableCount('signals')
  return { deliveries, events, signals, ...(approximate.length ? { approximate } : {}) }
}

export async function getDestinationState(pool: pg.Pool, name: string) {
  const [r] = await query<{ state: Record<string, unknown> }>(
    pool,
    'SELECT state FROM destination_state WHERE name = $1',
    [name],
  )
  return r?.state
}

export async function setDestinationState(
  pool: pg.Pool,
  name: string,
  state: Record<string, unknown>,
  now: number,
): Promise<void> {
  await query(
    pool,
    `INSERT INTO destination_state (name, state, updated_at) VALUES ($1, $2::jsonb, $3)
     ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
    [name, json(state), now],
  )
}

/**
 * One statement: the probe is taken where the stored breaker is the one the caller opened (or older) and no
 * probe lease is live; `known` tells "someone else has it" from "nothing stored". Times in server time.
 */
export async function takeProbe(
  pool: pg.Pool,
  name: string,
  openedAt: number,
  untilMs: number,
  now: number,
): Promise<boolean> {
  const [r] = await query<{ taken: boolean; known: boolean }>(
    pool,
    `WITH taken AS (
       UPDATE destination_state SET state = state || jsonb_build_object('probeUntil', $3::bigint), updated_at = $4
       WHERE name = $1 AND state->>'state' = 'open' AND coalesce((state->>'openedAt')::bigint, 0) <= $2
         AND coalesce((state->>'probeUntil')::bigint, 0) <= $4
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM taken) AS taken,
       EXISTS (SELECT 1 FROM destination_state WHERE name = $1) AS known`,
    [name, openedAt, untilMs, now],
  )
  return r.taken || !r.known
}
