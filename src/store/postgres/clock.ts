/**
 * Lease times on the database's clock. A lease is `lease_until` in one row that every node compares with
 * its own `now`: with node clocks, a node whose clock runs slow writes leases that look expired to the
 * others, and two nodes send the same delivery at once. So the store measures how far the server's clock
 * is from this node's (from a round trip, re-measured every 30 s: `nextEstimate`) and writes and compares
 * `lease_until` in server time. The engine keeps judging its own leases on its own clock, from before the
 * round trip that took them, so its view of a lease always ends before the server's.
 *
 * Between measurements the node's wall clock may step (NTP, a resumed VM). The offset is carried forward on
 * the monotonic clock, which never steps: a step of the wall clock since the last measurement is taken out
 * at once. Carried only every 30 s, a node whose clock jumped 45 s ahead saw other nodes' live leases as
 * expired and sent their deliveries beside them (a review reproduced it).
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
/** A wall-clock move this large between measurements is a step (leases are a minute; the engine's margin 2 s). */
const STEP_MS = 250

/** Server time − node time, known to within `halfWidth` ms either way. */
export interface OffsetEstimate {
  offset: number
  halfWidth: number
}

/**
 * One round trip: the server read its clock (`serverMs`) while the node's clock showed between `t0` and
 * `t1` + 1 (node clocks step in whole milliseconds).
 *
 * @example offsetFrom(927, 928, 928.506) // { offset: 0.506, halfWidth: 1 }
 */
export function offsetFrom(t0: number, t1: number, serverMs: number): OffsetEstimate {
  return { offset: serverMs - (t0 + t1 + 1) / 2, halfWidth: (t1 + 1 - t0) / 2 }
}

/**
 * The estimate to use after a new measurement. The one in use is kept while the two agree (their ranges
 * overlap: the same clocks, measured twice): taking every new midpoint moved each lease end by a millisecond
 * either way every 30 s with no clock having changed, which leases compared at their exact end noticed. A
 * clock that stepped (no overlap) is followed at once, and a measurement at least 2 ms tighter (the first
 * one, on a connection still being opened, can take several) replaces a loose one.
 */
export function nextEstimate(current: OffsetEstimate | undefined, sample: OffsetEstimate): OffsetEstimate {
  if (!current) return sample
  const agree = Math.abs(sample.offset - current.offset) <= sample.halfWidth + current.halfWidth
  return !agree || sample.halfWidth <= current.halfWidth - 2 ? sample : current
}

export function createDbClock(
  pool: pg.Pool,
  nodeClock: () => number = Date.now,
  monotonic: () => number = () => performance.now(),
): DbClock {
  let estimate: OffsetEstimate | undefined
  // both clocks when the estimate was last confirmed: since then the wall clock should have moved as the
  // monotonic one did, and any difference is a step to take out of the offset
  let anchor: { node: number; mono: number } | undefined
  const offset = () => {
    if (!estimate || !anchor) return estimate?.offset ?? 0
    const step = nodeClock() - anchor.node - (monotonic() - anchor.mono)
    // the two clocks read a fraction of a millisecond apart and drift by a few ms in 30 s: only a step
    // counts. Following the jitter moved lease ends by a millisecond between two reads of one lease
    return Math.abs(step) < STEP_MS ? estimate.offset : estimate.offset - step
  }
  const measure = async () => {
    const t0 = nodeClock()
    const [r] = await query<{ t: number }>(pool, 'SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t')
    return offsetFrom(t0, nodeClock(), Number(r.t))
  }
  const sync = async () => {
    const first = await measure()
    estimate = nextEstimate(estimate, first)
    // a slow round trip (the first one also opens the connection: ~500 ms on a loaded machine) is measured
    // again at once, on the connection it left open
    if (first.halfWidth > 5) estimate = nextEstimate(estimate, await measure())
    anchor = { node: nodeClock(), mono: monotonic() }
  }
  const timer = setInterval(() => sync().catch(() => undefined), RESYNC_MS)
  timer.unref?.()
  return {
    toDb: (t) => Math.round(t + offset()),
    fromDb: (t) => Math.round(t - offset()),
    sync,
    stop: () => clearInterval(timer),
  }
}
