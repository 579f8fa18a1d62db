/**
 * Durable timers (qualified-call floors, scheduled retries): due rows are claimed with SKIP LOCKED, so each
 * fires on exactly one node, and deleted in the transaction that writes what `fire` derived — a timer is
 * never both fired and still armed, and a crash mid-fire leaves it armed.
 */
import type pg from 'pg'
import type { DeriveContext, LeasedJob, Store, TimerJob } from '../types.ts'
import type { DbClock } from './clock.ts'
import { applyDerived, notifyWake, readJourney, storeLease, tryLockJourney } from './ingest.ts'
import { tx } from './pool.ts'

type TimerRow = { id: string; key: string; kind: string; due_at: number; payload: Record<string, unknown> }

export function fireTimers(
  pool: pg.Pool,
  opts: Parameters<Store['fireTimers']>[0],
  wakeSource: string,
  clock: DbClock,
): ReturnType<Store['fireTimers']> {
  const lease = storeLease(opts.lease, clock)
  return tx(pool, async (q) => {
    const rows = await q.query<TimerRow>(
      `SELECT id, key, kind, due_at, payload FROM timers WHERE due_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
       ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [opts.now, opts.limit],
    )
    const leased: LeasedJob[] = []
    const pending = new Set<string>()
    let fired = 0
    for (const r of rows) {
      const timer: TimerJob = {
        id: r.id,
        key: r.key,
        kind: r.kind,
        dueAt: r.due_at,
        payload: r.payload,
        leaseToken: opts.token,
      }
      const key = opts.journeyKey(timer)
      // an ingest holding this journey may be waiting on this very timer row (re-arming it): never wait
      // here, or the two would deadlock; the timer stays armed for the next sweep
      if (key && !(await tryLockJourney(q, key))) continue
      await q.query('DELETE FROM timers WHERE id = $1', [timer.id])
      const ctx: DeriveContext = {
        eventId: String(timer.payload.eventId ?? ''),
        rawId: String(timer.payload.rawId ?? ''),
        journey: key ? await readJourney(q, { key }) : undefined,
        facts: {},
        now: opts.now,
      }
      await applyDerived(q, opts.fire(timer, ctx), { now: opts.now, lease, leased, pending })
      fired++
    }
    await notifyWake(q, wakeSource, pending)
    return { fired, leased, pendingDestinations: [...pending] }
  })
}
