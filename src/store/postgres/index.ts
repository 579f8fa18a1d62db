/**
 * The scale-out store: many stateless closeloop nodes share one PostgreSQL database.
 *  - ingest goes through group commit (concurrent requests share one COMMIT) and deduplicates across
 *    nodes with `ON CONFLICT`;
 *  - deliveries and timers are claimed with `FOR UPDATE SKIP LOCKED`, so nodes never take the same row;
 *  - `onWake` (LISTEN/NOTIFY) tells a node another node created work for it, without polling;
 *  - database faults reject with `code: 'E_STORE_UNAVAILABLE'` (HTTP 503) and the pool heals by itself.
 *
 * @example
 *   const store = await openPostgresStore('postgres://closeloop@db/closeloop'); await store.migrate()
 *   store.onWake((destinations) => engine.wake(destinations))
 */
import { randomBytes } from 'node:crypto'
import type { IngestRequest, IngestResult, Store } from '../types.ts'
import { createDbClock } from './clock.ts'
import * as deliveries from './deliveries.ts'
import { classify } from './errors.ts'
import { createGroupCommit, type GroupCommit, type Merge } from './group-commit.ts'
import {
  ingestInOne,
  ingestMany,
  ingestOp,
  insertRaw,
  isSetWise,
  updateFacts,
  WAKE_CHANNEL,
  wakePayload,
} from './ingest.ts'
import { pendingMigrations, runMigrations } from './migrations.ts'
import { createPool, type PoolOptions, query, tx, withClient, withUntimedClient } from './pool.ts'
import * as privacy from './privacy.ts'
import { takeRateTokens } from './rate.ts'
import * as read from './read.ts'
import * as report from './report.ts'
import { fireTimers } from './timers.ts'
import { createWakeListener, type WakeCallback } from './wake.ts'

export type { StoreUnavailableError } from './errors.ts'
export { isStoreUnavailable } from './errors.ts'
export type { WakeCallback } from './wake.ts'

export interface PostgresStore extends Store {
  readonly kind: 'postgres'
  /**
   * Called when another node (or an operator action) created work: the destinations that have new pending
   * deliveries, or `[]` for "anything may have changed" (after the listener reconnects). Returns an
   * unsubscribe function. Not part of `Store`: SQLite has one process and needs no wake-ups.
   */
  onWake(cb: WakeCallback): () => void
  /** What group commit wrote (group-commit.ts: `stats`), for the benchmark and tests. */
  groupCommitStats(): ReturnType<GroupCommit['stats']>
}

export interface PostgresOptions extends PoolOptions {
  /** This node's clock (tests skew it); leases are kept on the server's clock whatever it says. */
  clock?: () => number
  /**
   * Attempt records (an attempt's log row and its delivery's next state) commit without waiting for the
   * WAL flush (default), on a pool of their own; `true` makes them wait like every other write.
   *
   * A destination's slot is held until its attempt is recorded, so the record's commit is part of every
   * send: in bench (j) a record took 6 ms on average of a slot's ~9.5 ms (send ~3.5 ms), and without the
   * flush one node delivered 2,808–3,572 events/s against 2,036–2,667 (two runs each way, alternating).
   * What it risks: if PostgreSQL itself crashes (a node crash loses nothing here), records of the last
   * moments (at most 3 × `wal_writer_delay`, 600 ms by default; any ingest commit flushes them sooner) are
   * lost. Those deliveries are then still leased as in flight, and when the lease runs out they are sent
   * again with the same idempotency key, as after any attempt whose record failed.
   */
  durableAttemptRecords?: boolean
  /** Above this many rows a table's count is the planner's estimate (read.ts: `EXACT_COUNT_LIMIT`). */
  exactCountLimit?: number
}

export async function openPostgresStore(url: string, opts: PostgresOptions = {}): Promise<PostgresStore> {
  const poolSize = opts.poolSize ?? 10
  const pool = createPool(url, { ...opts, poolSize })
  // one write at a time (deliveries.ts: createAttemptRecorder); the second connection replaces a broken one
  const attemptPool = opts.durableAttemptRecords
    ? pool
    : createPool(url, { ...opts, poolSize: 2, asyncCommit: true, applicationName: 'closeloop attempts' })
  const clock = createDbClock(pool, opts.clock)
  // a server that is down at start: offset 0 until the next sync (every 30 s)
  await clock.sync().catch(() => undefined)
  // identifies this instance's own notifications so it can skip them
  const self = `st_${randomBytes(6).toString('hex')}`
  // half the pool may be committing ingest batches; the rest serves claims, attempts and reads
  const writer = createGroupCommit(
    pool,
    Math.max(1, Math.floor(poolSize / 2)),
    (d, literal) => `SELECT pg_notify(${literal(WAKE_CHANNEL)}, ${literal(wakePayload(self, d))})`,
  )
  const affinity = (req: IngestRequest) => {
    for (const it of req.items) {
      const k = it.journey?.key ?? it.journey?.aliases?.[0]
      if (k) return k
    }
    return req.items[0]?.dedupKey
  }
  // Plain ECAPI requests of one group commit are written together (ingest.ts: ingestMany). Small ones (a
  // webhook's single event) share one lane, so they gather into large batches: the job-queue bench went
  // from 1.24x to 2.29x pg-boss. Large ones spread over the lanes: on one lane, batches of 100 events fell
  // from about 12,000 to 6,400 events/s.
  const SMALL = 10
  const setWise: Merge<{ req: IngestRequest; now: number }, IngestResult> = {
    one: (q, { req, now }) => ingestOp(q, req, now, self, clock),
    many: (q, batch) => ingestMany(q, batch, self, clock),
    alone: (q, batch) => ingestInOne(q, batch, self, clock),
  }
  let wake: ReturnType<typeof createWakeListener> | undefined
  let closed = false

  const store: PostgresStore = {
    kind: 'postgres',
    migrate: () => withUntimedClient(url, (c) => runMigrations(c)),
    pendingMigrations: () =>
      withClient(pool, (c) => pendingMigrations(c)).catch((err) => {
        throw classify(err)
      }),
    ingest: (req, now) =>
      isSetWise(req)
        ? writer.runMerged(setWise, { req, now }, req.items.length < SMALL ? 'small' : affinity(req))
        : writer.run((q) => ingestOp(q, req, now, self, clock), affinity(req)),
    recordRaw: (raw) => writer.run((q) => insertRaw(q, raw)),
    updateFacts: (keys, update, now) => tx(pool, (q) => updateFacts(q, keys, update, now)),
    claimDeliveries: (o) => deliveries.claimDeliveries(pool, o, clock),
    recordAttempts: deliveries.createAttemptRecorder(attemptPool),
    renewLeases: (leases, untilMs, now) => deliveries.renewLeases(pool, leases, clock.toDb(untilMs), now),
    takeRateTokens: (destination, ratePerS, want) => takeRateTokens(pool, destination, ratePerS, want),
    releaseLeases: (leases, now) => deliveries.releaseLeases(pool, leases, now, self),
    fireTimers: (o) => fireTimers(pool, o, self, clock),
    nextDue: (destinations) => read.nextDue(pool, clock, destinations),
    trace: (id) => read.trace(pool, id),
    listDeliveries: (q) => deliveries.listDeliveries(pool, q),
    replay: (id, now) => deliveries.replay(pool, id, now, self),
    getDestinationState: (name) => read.getDestinationState(pool, name),
    setDestinationState: (name, state, now) => read.setDestinationState(pool, name, state, now),
    // probe leases compare across nodes, so they run on the database's clock like delivery leases
    takeProbe: (name, openedAt, untilMs, now) =>
      read.takeProbe(pool, name, openedAt, clock.toDb(untilMs), clock.toDb(now)),
    counts: () => read.counts(pool, opts.exactCountLimit),
    ...report.reportReads(pool),
    async ping() {
      await query(pool, 'SELECT 1')
    },
    onWake(cb) {
      wake ??= createWakeListener(url, self)
      return wake.add(cb)
    },
    groupCommitStats: () => writer.stats(),
    writes() {
      const { transactions, operations } = writer.stats()
      return { transactions, operations }
    },
    async close() {
      if (closed) return
      closed = true
      clock.stop()
      await writer.drain()
      await wake?.close()
      await pool.end()
      if (attemptPool !== pool) await attemptPool.end()
    },
    scrubExpired: (cutoff, now, o) => privacy.scrubExpired(pool, cutoff, now, o),
    forgetSubject: (req, now) => privacy.forgetSubject(pool, req, now),
    listAudit: (q) => privacy.listAudit(pool, q),
  }
  return store
}
