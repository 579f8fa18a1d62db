/**
 * Delivery tallies of settled hours, kept between match-rate checks. A check reads eight days of
 * deliveries; measured on SQLite with 1,000,000 deliveries over nine days (2 × AMD EPYC, the reader
 * thread), that took 3.5–4.9 s per check, and the same again ten minutes later although only the last
 * hours had changed; with this cache the later checks took 0.83–0.95 s (docs/observability.md). An
 * hour's deliveries stop changing once their retries are over (the default schedule ends ~33 h after
 * ingest, with jitter), so hours older than `settledMs` are read once and kept, and each call reads only the
 * recent ones. Kept hours are read afresh every `refreshMs` (6 h), for what changes later still (a
 * destination paused for days, then resumed; a replay): the baseline is a trend, the reconciliation report
 * (always read afresh) is the record.
 *
 * @example
 *   const tallies = createTallyCache(store)
 *   await tallies(range, Date.now()) // as store.deliveryTallies(range), old hours from memory
 */
import { HOUR_MS } from '../store/tallies.ts'
import type { DeliveryTally, Store, TimeRange } from '../store/types.ts'

/** Two days: past the default retry schedule's last attempt (~27.6 h, +20 % jitter). */
const SETTLED_MS = 48 * HOUR_MS
/**
 * Kept hours are read again from scratch this often: a delivery that waited longer than the retry schedule
 * (a destination paused for days, then resumed; a replay) reaches the baseline within this time.
 */
const REFRESH_MS = 6 * HOUR_MS

export function createTallyCache(
  store: Pick<Store, 'deliveryTallies'>,
  opts: { settledMs?: number; refreshMs?: number } = {},
): (range: TimeRange, now: number) => Promise<DeliveryTally[]> {
  const settledMs = opts.settledMs ?? SETTLED_MS
  const refreshMs = opts.refreshMs ?? REFRESH_MS
  /** Tallies by hour, for every hour in [from, to) that was read settled, and when that began. */
  let kept: { from: number; to: number; rows: DeliveryTally[]; readAt: number } | undefined
  /** Calls run one after another: two overlapping ones once appended the same newly settled hours twice. */
  let queue: Promise<unknown> = Promise.resolve()

  async function read(range: TimeRange, now: number): Promise<DeliveryTally[]> {
    const settled = Math.min(range.toMs, Math.floor((now - settledMs) / HOUR_MS) * HOUR_MS)
    if (settled <= range.fromMs) return store.deliveryTallies(range)
    // the settled part: what is kept, plus the hours that settled since (all of it when the range moved
    // back, or when what is kept is due to be read again)
    if (!kept || kept.from > range.fromMs || kept.to < range.fromMs || now - kept.readAt >= refreshMs) {
      const rows = await store.deliveryTallies({ fromMs: range.fromMs, toMs: settled })
      kept = { from: range.fromMs, to: settled, rows, readAt: now }
    } else if (kept.to < settled) {
      const more = await store.deliveryTallies({ fromMs: kept.to, toMs: settled })
      kept = { ...kept, to: settled, rows: kept.rows.concat(more) }
    }
    // hours before the range are dropped: the window only moves forward
    if (kept.from < range.fromMs)
      kept = { ...kept, from: range.fromMs, rows: kept.rows.filter((r) => r.hour >= range.fromMs) }
    const rows = kept.rows.filter((r) => r.hour < settled)
    return rows.concat(await store.deliveryTallies({ fromMs: settled, toMs: range.toMs }))
  }

  return function deliveryTallies(range, now) {
    const answer = queue.then(() => read(range, now))
    queue = answer.catch(() => undefined)
    return answer
  }
}
