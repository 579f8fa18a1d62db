import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import pg from 'pg'
import { ADMIN_URL } from '../../../test/helpers/postgres.ts'
import { createDbClock, nextEstimate, offsetFrom } from './clock.ts'

describe('clock offset estimates', () => {
  test('a round trip bounds the offset by its length, whole node milliseconds included', () => {
    assert.deepEqual(offsetFrom(927, 928, 928.5), { offset: 0.5, halfWidth: 1 })
    assert.deepEqual(offsetFrom(1000, 1000, 6000.25), { offset: 4999.75, halfWidth: 0.5 })
  })

  test('measurements that agree keep the estimate in use; a stepped clock or a much tighter one replaces it', () => {
    const inUse = offsetFrom(927, 928, 928.506)
    // the same clocks again, fast and slow round trips: the ranges overlap, nothing moves
    for (const s of [
      offsetFrom(929, 929, 929.444),
      offsetFrom(929, 932, 929.444),
      offsetFrom(930, 931, 931.9),
    ])
      assert.equal(nextEstimate(inUse, s), inUse)
    // the node's clock stepped 5 s back: followed at once
    const stepped = offsetFrom(4929, 4929, 9929.4)
    assert.equal(nextEstimate(inUse, stepped), stepped)
    // a first measurement on a connection still opening (9 ms) gives way to a tight one that agrees with it
    const cold = offsetFrom(2083, 2092, 2091.2)
    const warm = offsetFrom(2093, 2093, 2093.4)
    assert.equal(nextEstimate(cold, warm), warm)
    assert.equal(nextEstimate(warm, cold), warm)
    assert.equal(nextEstimate(undefined, cold), cold)
  })
})

describe('database clock', () => {
  const pool = new pg.Pool({ connectionString: ADMIN_URL, max: 1 })
  after(() => pool.end())

  test('measures the server against the node, and follows a node clock that steps', async () => {
    let skew = 0
    const clock = createDbClock(pool, () => Date.now() + skew)
    const T = 1_800_000_000_000
    /** Syncs; one machine, so the offset is `skew` back, within half of the sync's round trip (+1 ms steps). */
    const syncAndCheck = async () => {
      const t0 = Date.now()
      await clock.sync()
      const bound = (Date.now() - t0) / 2 + 1
      const off = clock.toDb(T) - T
      assert.ok(
        Math.abs(off + skew) <= bound,
        `offset ${off} ms with the node ${skew} ms off, bound ${bound}`,
      )
    }
    try {
      await syncAndCheck()
      // the node's clock steps 5 s behind: leases must still end when the server says
      skew = -5_000
      await syncAndCheck()
      assert.equal(clock.fromDb(clock.toDb(T)), T)
    } finally {
      clock.stop()
    }
  })

  test('a node clock that steps between measurements is followed at once, on the monotonic clock', async () => {
    let skew = 0
    let mono = 0
    const clock = createDbClock(
      pool,
      () => Date.now() + skew,
      () => performance.now() + mono,
    )
    try {
      await clock.sync()
      const serverNow = async () =>
        Number((await pool.query('SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t')).rows[0].t)
      // 45 s ahead (NTP, a resumed VM), no measurement since: node time still maps to the server's
      skew = 45_000
      const ahead = clock.toDb(Date.now() + skew) - (await serverNow())
      assert.ok(Math.abs(ahead) < 1_000, `${ahead} ms off after a 45 s step`)
      skew = -45_000
      const behind = clock.toDb(Date.now() + skew) - (await serverNow())
      assert.ok(Math.abs(behind) < 1_000, `${behind} ms off after a step back`)
      // time that passed for both clocks is no step
      skew = 0
      mono = 0
      assert.ok(Math.abs(clock.toDb(Date.now()) - (await serverNow())) < 1_000)
    } finally {
      clock.stop()
    }
  })
})
