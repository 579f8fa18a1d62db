/**
 * The tally cache against a real SQLite store: the same answer as reading afresh, while reading only the
 * recent hours (and the ones that settled since) after the first call.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { deliverAt } from '../../test/helpers/deliveries.ts'
import { tempSqliteStore } from '../../test/helpers/sqlite.ts'
import { HOUR_MS } from '../store/tallies.ts'
import type { DeliveryTally, Store, TimeRange } from '../store/types.ts'
import { matchRateWindows } from './match-rate.ts'
import { createTallyCache } from './tally-cache.ts'

const T = Date.UTC(2026, 11, 6, 14, 30)
const DAY = 24 * HOUR_MS
const key = (r: DeliveryTally) => JSON.stringify(r)
const sorted = (rows: DeliveryTally[]) => rows.map(key).sort()

describe('tally cache', () => {
  let store: Store
  let cleanup: () => Promise<void>
  before(async () => {
    ;({ store, cleanup } = await tempSqliteStore('closeloop-tallies-', 'cache.db'))
    for (let d = 9; d >= 0; d--) await deliverAt(store, T - d * DAY - 5 * HOUR_MS, 3, d % 2 ? ['fbc'] : [])
  })
  after(() => cleanup())

  test('same tallies as the store, reading only recent and newly settled hours after the first call', async () => {
    const reads: TimeRange[] = []
    const spy = {
      deliveryTallies: (r: TimeRange) => {
        reads.push(r)
        return store.deliveryTallies(r)
      },
    }
    const tallies = createTallyCache(spy)
    const cfg = { window_hours: 24, baseline_days: 7 }
    const check = async (now: number) => {
      const w = matchRateWindows(now, cfg).all
      reads.length = 0
      const got = await tallies(w, now)
      assert.deepEqual(
        sorted(got),
        sorted(await store.deliveryTallies(w)),
        `at ${new Date(now).toISOString()}`,
      )
      return [...reads]
    }
    const settled = (now: number) => Math.floor((now - 48 * HOUR_MS) / HOUR_MS) * HOUR_MS
    const first = await check(T)
    const w0 = matchRateWindows(T, cfg).all
    assert.deepEqual(first, [
      { fromMs: w0.fromMs, toMs: settled(T) },
      { fromMs: settled(T), toMs: w0.toMs },
    ])
    // ten minutes on, with a new delivery this hour: only the recent hours are read
    await deliverAt(store, T + 5 * 60_000, 2, ['em'])
    assert.deepEqual(await check(T + 10 * 60_000), [{ fromMs: settled(T), toMs: w0.toMs }])
    // three hours on: the three hours that settled, then the recent ones
    const later = T + 3 * HOUR_MS
    assert.deepEqual(await check(later), [
      { fromMs: settled(T), toMs: settled(later) },
      { fromMs: settled(later), toMs: matchRateWindows(later, cfg).all.toMs },
    ])
    // two days on: a day and more of the old baseline has left the window and is not kept
    await check(T + 2 * DAY)
    // a range that moved back is read whole again
    assert.equal((await check(T - DAY)).length, 2)
    assert.deepEqual((await check(T - DAY))[0].fromMs, settled(T - DAY))
  })

  test('a range entirely within the recent hours goes to the store as it is', async () => {
    const reads: TimeRange[] = []
    const tallies = createTallyCache({
      deliveryTallies: (r) => {
        reads.push(r)
        return store.deliveryTallies(r)
      },
    })
    const range = { fromMs: T - 10 * HOUR_MS, toMs: T + HOUR_MS }
    await tallies(range, T)
    assert.deepEqual(reads, [range])
  })

  test('overlapping calls do not count a newly settled hour twice', async () => {
    const tallies = createTallyCache(store)
    const cfg = { window_hours: 24, baseline_days: 7 }
    // kept from five hours earlier; by T the hour of the deliveries two days and five hours back has settled
    await tallies(matchRateWindows(T - 5 * HOUR_MS, cfg).all, T - 5 * HOUR_MS)
    const later = T
    const w = matchRateWindows(later, cfg).all
    const [a, b] = await Promise.all([tallies(w, later), tallies(w, later)])
    const fresh = sorted(await store.deliveryTallies(w))
    assert.deepEqual(sorted(a), fresh)
    assert.deepEqual(sorted(b), fresh)
    assert.deepEqual(sorted(await tallies(w, later)), fresh)
  })

  test('what changes in a kept hour is seen once what is kept is read again (6 h)', async () => {
    const tallies = createTallyCache(store)
    const cfg = { window_hours: 24, baseline_days: 7 }
    const w = (now: number) => matchRateWindows(now, cfg).all
    const before = await tallies(w(T), T)
    // a delivery that waited days (a paused destination) lands in an hour kept as settled
    await deliverAt(store, T - 4 * DAY, 7, ['fbc'], { destination: 'late' })
    const soon = T + 10 * 60_000
    assert.deepEqual(sorted(await tallies(w(soon), soon)).length, before.length, 'kept as it was')
    const refreshed = T + 6 * HOUR_MS
    assert.deepEqual(
      sorted(await tallies(w(refreshed), refreshed)),
      sorted(await store.deliveryTallies(w(refreshed))),
    )
    assert.ok((await tallies(w(refreshed), refreshed)).some((r) => r.destination === 'late'))
  })
})
