/**
 * The outbox queries: claim with `FOR UPDATE SKIP LOCKED` (many nodes claim at once, each gets different
 * rows, nobody waits), record attempts guarded by the lease token, give leases back, replay, list.
 */
import type pg from 'pg'
import type { Delivery, Signal } from '../../model/signal.ts'
import { newId } from '../ids.ts'
import { matchKeysField, storedMatchKeys } from '../match-keys.ts'
import { signalFromStored } from '../signal-body.ts'
import type { AttemptRecord, DeliveryQuery, LeasedJob, LeaseRef, Store } from '../types.ts'
import type { DbClock } from './clock.ts'
import { notifyWake } from './ingest.ts'
import { json, type Param, query, tx } from './pool.ts'

export interface DeliveryRow {
  id: string
  signal_id: string
  destination: string
  status: Delivery['status']
  attempts: number
  due_at: number
  idempotency_key: string
  last_error: string | null
  match_keys?: string | null
  created_at: number
  updated_at: number
}

export const toDelivery = (r: DeliveryRow): Delivery => ({
  id: r.id,
  signalId: r.signal_id,
  destination: r.destination,
  status: r.status,
  attempts: Number(r.attempts),
  dueAt: r.due_at,
  idempotencyKey: r.idempotency_key,
  lastError: r.last_error ?? undefined,
  ...matchKeysField(r.match_keys),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
})

/**
 * Pending-and-due first, then expired leases (a crashed node's work), each read through its own partial
 * index, locked with SKIP LOCKED so a concurrent claimer on another node takes different rows, and
 * leased in the same statement: one round trip, no window where a row is locked but not yet leased.
 */
export async function claimDeliveries(
  pool: pg.Pool,
  opts: Parameters<Store['claimDeliveries']>[0],
  clock: DbClock,
): Promise<LeasedJob[]> {
  if (opts.destinations.length === 0 || opts.limit <= 0) return []
  // leases in server time (clock.ts); due times are the node's
  const params: Param[] = [
    opts.now,
    opts.limit,
    opts.token,
    clock.toDb(opts.now + opts.leaseMs),
    clock.toDb(opts.now),
    [...opts.destinations],
  ]
  // each destination read in its own index order (`destination = d`), so the LIMIT stops the scan however
  // large the backlog
  const scan = (status: string, column: string, bound: string) =>
    `SELECT x.id FROM unnest($6::text[]) AS dest(name), LATERAL (
       SELECT id FROM deliveries WHERE status = '${status}' AND destination = dest.name AND ${column} <= ${bound}
       ORDER BY ${column} LIMIT $2 FOR UPDATE SKIP LOCKED) x`
  const rows = await query<DeliveryRow & { signal_body: Signal }>(
    pool,
    `WITH due AS (${scan('pending', 'due_at', '$1')}
     ), expired AS (${scan('in_flight', 'lease_until', '$5')}
     ), picked AS (
       SELECT id FROM (SELECT id, 0 AS k FROM due UNION ALL SELECT id, 1 FROM expired) u ORDER BY k LIMIT $2
     )
     UPDATE deliveries d SET status = 'in_flight', lease_token = $3, lease_until = $4, updated_at = $1
     FROM picked, signals s
     WHERE d.id = picked.id AND s.id = d.signal_id
     RETURNING d.*, s.body AS signal_body`,
    params,
  )
  const leaseUntil = opts.now + opts.leaseMs
  return rows
    .sort((a, b) => a.due_at - b.due_at || (a.id < b.id ? -1 : 1))
    .map((r) => ({
      delivery: toDelivery(r),
      signal: signalFromStored(r.signal_body),
      leaseToken: opts.token,
      leaseUntil,
    }))
}

/**
 * Attempts from requests that finish while a write is in flight wait for the next write and share it: with
 * postbacks (one delivery per request) every attempt was its own statement, a third of the round trips
 * per event in the two-node benchmark. A failed write fails every caller that shared it (their leases
 * run out and the sweep re-sends, as for any unrecorded attempt).
 */
export function createAttemptRecorder(pool: pg.Pool) {
  let waiting: Array<{ records: AttemptRecord[]; now: number; done(err?: unknown): void }> = []
  let writing = false
  async function drain() {
    writing = true
    while (waiting.length) {
      const batch = waiting
      waiting = []
      const err = await recordAttempts(
        pool,
        batch.flatMap((b) => b.records),
        Math.max(...batch.map((b) => b.now)),
      ).then(
        () => undefined,
        (e: unknown) => e ?? new Error('recordAttempts failed'),
      )
      for (const b of batch) b.done(err)
    }
    writing = false
  }
  return function record(records: AttemptRecord[], now: number): Promise<void> {
    if (records.length === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      waiting.push({ records, now, done: (err) => (err ? reject(err) : resolve()) })
      if (!writing) void drain()
    })
  }
}

/** Every attempt is logged; the next state is written only where our lease still holds. One statement. */
export async function recordAttempts(pool: pg.Pool, records: AttemptRecord[], now: number): Promise<void> {
  if (records.length === 0) return
  const rows = records.map((rec) => ({
    id: newId('att', now),
    delivery_id: rec.deliveryId,
    lease_token: rec.leaseToken,
    n: rec.attempt.n,
    started_at: rec.attempt.startedAt,
    outcome: rec.attempt.outcome,
    code: rec.attempt.code ?? null,
    message: rec.attempt.message ?? null,
    exchange: rec.attempt.exchange ?? null,
    status: rec.next.status,
    attempts: rec.next.attempts,
    due_at: rec.next.dueAt,
    last_error: rec.next.lastError ?? null,
    match_keys: storedMatchKeys(rec.next.matchKeys),
  }))
  await query(
    pool,
    `WITH r AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id text, delivery_id text, lease_token text, n integer,
         started_at bigint, outcome text, code text, message text, exchange jsonb, status text, attempts integer,
         due_at bigint, last_error text, match_keys text)
     ), logged AS (
       INSERT INTO attempts (id, delivery_id, n, started_at, outcome, code, message, exchange)
       SELECT id, delivery_id, n, started_at, outcome, code, message, exchange FROM r
     )
     UPDATE deliveries d SET status = r.status, attempts = r.attempts, due_at = r.due_at, last_error = r.last_error,
       match_keys = COALESCE(r.match_keys, d.match_keys), lease_token = NULL, lease_until = NULL, updated_at = $2
     FROM r WHERE d.id = r.delivery_id AND d.lease_token = r.lease_token`,
    [json(rows), now],
  )
}

/**
 * Extends our own in-flight leases (`untilMs` in server time). Under READ COMMITTED a concurrent claim that
 * locked a row first has changed its token (we renew nothing); one that locks it after us re-checks
 * `lease_until` and skips it.
 */
export async function renewLeases(
  pool: pg.Pool,
  leases: LeaseRef[],
  untilMs: number,
  now: number,
): Promise<string[]> {
  if (leases.length === 0) return []
  const rows = await query<{ id: string }>(
    pool,
    `UPDATE deliveries d SET lease_until = $1, updated_at = $2
     FROM unnest($3::text[], $4::text[]) AS l(id, token)
     WHERE d.id = l.id AND d.lease_token = l.token AND d.status = 'in_flight' RETURNING d.id`,
    [untilMs, now, leases.map((l) => l.deliveryId), leases.map((l) => l.token)],
  )
  return rows.map((r) => r.id)
}

/** Leased deliveries back to pending, due now; other nodes are woken to take them. */
export async function releaseLeases(
  pool: pg.Pool,
  leases: LeaseRef[],
  now: number,
  wakeSource: string,
): Promise<void> {
  if (leases.length === 0) return
  await tx(pool, async (q) => {
    const rows = await q.query<{ destination: string }>(
      `UPDATE deliveries d SET status = 'pending', lease_token = NULL, lease_until = NULL, updated_at = $1
       FROM unnest($2::text[], $3::text[]) AS l(id, token)
       WHERE d.id = l.id AND d.lease_token = l.token RETURNING d.destination`,
      [now, leases.map((l) => l.deliveryId), leases.map((l) => l.token)],
    )
    await notifyWake(q, wakeSource, new Set(rows.map((r) => r.destination)))
  })
}

/** Dead (or delivered) → pending now, attempts kept. Pending or in-flight deliveries are returned as they are. */
export function replay(
  pool: pg.Pool,
  id: string,
  now: number,
  wakeSource: string,
): Promise<Delivery | undefined> {
  return tx(pool, async (q) => {
    const [row] = await q.query<DeliveryRow>('SELECT * FROM deliveries WHERE id = $1 FOR UPDATE', [id])
    if (!row) return undefined
    if (row.status === 'in_flight' || row.status === 'pending') return toDelivery(row)
    await q.query(
      `UPDATE deliveries SET status = 'pending', due_at = $2, lease_token = NULL, lease_until = NULL, updated_at = $2
       WHERE id = $1`,
      [id, now],
    )
    await notifyWake(q, wakeSource, [row.destination])
    return { ...toDelivery(row), status: 'pending' as const, dueAt: now, updatedAt: now }
  })
}

export async function listDeliveries(pool: pg.Pool, q: DeliveryQuery): Promise<Delivery[]> {
  const where: string[] = []
  const params: Param[] = []
  const add = (cond: string, v: Param) => {
    params.push(v)
    where.push(cond.replace('?', `$${params.length}`))
  }
  if (q.status) add('status = ?', q.status)
  if (q.destination) add('destination = ?', q.destination)
  if (q.after) add('id > ?', q.after)
  params.push(q.limit)
  const rows = await query<DeliveryRow>(
    pool,
    `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${params.length}`,
    params,
  )
  return rows.map(toDelivery)
}
