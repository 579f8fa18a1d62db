/**
 * Lease times on the database's clock. A lease is `lease_until` in one row that every node compares with
 * its own `now`: with node clocks, a node whose clock runs slow writes leases that look expired to the
 * others, and two nodes send the same delivery at once. So the store measures how far the server's clock
 * is from this node's (the midpoint of a round trip, re-measured every 30 s) and writes and compares
 * `lease_until` in server time. The engine keeps judging its own leases on its own clock, from before the
 * round trip that took them, so its view of a lease always ends before the server's.
 *
 * @example
 *   const clock = createDbClock(pool); await clock.sync(); clock.toDb(Date.now() + 30_000) // lease_until
 */
import type pg from 'pg'
import { query } from './pool.ts'

export interface DbClock {
  /** Node time → server time. */
  toDb(t: number): number
  /** Server time → node time. */
  fromDb(t: number): number
  /** Measures the offset now; keeps the last one if the server does not answer. */
  sync(): Promise<void>
  stop(): void
}

const RESYNC_MS = 30_000

export function createDbClock(pool: pg.Pool, nodeClock: () => number = Date.now): DbClock {
  let offset = 0
  const sync = async () => {
    const t0 = nodeClock()
    const [r] = await query<{ t: number }>(pool, 'SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t')
    const t1 = nodeClock()
    offset = Number(r.t) - (t0 + t1) / 2
  }
  const timer = setInterval(() => sync().catch(() => undefined), RESYNC_MS)
  timer.unref?.()
  return {
    toDb: (t) => Math.round(t + offset),
    fromDb: (t) => Math.round(t - offset),
    sync,
    stop: () => clearInterval(timer),
  }
}
