import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { openSqliteStore } from '../../store/sqlite/index.ts'
import { assignNumber, dniKey, dniUpdate, nextVisitorFacts, requesterKey, type Touch } from './index.ts'

const MIN = 60_000
const DAY = 86_400_000
const pool = {
  numbers: ['+18005550101', '+18005550102', '+18005550103'],
  hold_minutes: 30,
  default_number: '+18005550100',
}
const touch = (visitor: string, at: number, gclid?: string): Touch => ({
  visitor_id: visitor,
  clicked_at: at,
  click_ids: gclid ? { gclid } : {},
})

describe('first touch', () => {
  const t0 = Date.UTC(2026, 0, 1)
  test('the first ad click wins; later touches only update last', () => {
    const a = nextVisitorFacts(undefined, touch('v', t0, 'first-gclid-000'), 90, t0)
    assert.equal(a.firstTouch, true)
    const b = nextVisitorFacts(a.facts, touch('v', t0 + DAY, 'second-gclid-00'), 90, t0 + DAY)
    assert.equal(b.firstTouch, false)
    assert.equal(b.facts.first.click_ids.gclid, 'first-gclid-000')
    assert.equal(b.facts.last.click_ids.gclid, 'second-gclid-00')
    assert.equal(b.ttlMs, 89 * DAY, 'the TTL runs from the first touch, not the last')
  })
  test('after 90 days the next click is a new first touch', () => {
    const a = nextVisitorFacts(undefined, touch('v', t0, 'first-gclid-000'), 90, t0)
    const late = t0 + 90 * DAY + 1
    const b = nextVisitorFacts(a.facts, touch('v', late, 'later-gclid-000'), 90, late)
    assert.equal(b.firstTouch, true)
    assert.equal(b.facts.first.click_ids.gclid, 'later-gclid-000')
  })
  test('an earlier ad click that arrives later becomes the first touch; the TTL runs from its click time', () => {
    const now = t0 + 2 * DAY
    const a = nextVisitorFacts(undefined, touch('v', t0 + DAY, 'later-gclid-000'), 90, now)
    assert.equal(a.ttlMs, 89 * DAY, 'the TTL runs from the click time, not the arrival')
    const b = nextVisitorFacts(a.facts, touch('v', t0, 'earlier-gclid-0'), 90, now)
    assert.equal(b.firstTouch, true)
    assert.equal(b.facts.first.click_ids.gclid, 'earlier-gclid-0')
    assert.equal(b.facts.last.click_ids.gclid, 'later-gclid-000', 'the last touch stays the latest click')
    assert.equal(b.ttlMs, 88 * DAY)
    // an earlier click already outside the window changes nothing
    const stale = nextVisitorFacts(a.facts, touch('v', now - 91 * DAY, 'stale-gclid-000'), 90, now)
    assert.equal(stale.facts.first.click_ids.gclid, 'later-gclid-000')
    // nor does an earlier organic visit
    const organic = nextVisitorFacts(a.facts, touch('v', t0), 90, now)
    assert.equal(organic.facts.first.click_ids.gclid, 'later-gclid-000')
  })
  test('an organic first visit is replaced by the first paid one', () => {
    const a = nextVisitorFacts(undefined, touch('v', t0), 90, t0)
    const b = nextVisitorFacts(a.facts, touch('v', t0 + MIN, 'paid-gclid-0000'), 90, t0 + MIN)
    assert.equal(b.facts.first.click_ids.gclid, 'paid-gclid-0000')
  })
})

describe('number pool', () => {
  const t0 = Date.UTC(2026, 0, 1, 12)
  test('a visitor keeps its number while the hold lasts, and the hold is extended', () => {
    const a = assignNumber(undefined, pool, 'v1', t0)
    const b = assignNumber(a.state, pool, 'v1', t0 + 20 * MIN)
    assert.equal(b.assignment.number, a.assignment.number)
    assert.equal(b.assignment.heldUntil, t0 + 50 * MIN)
  })
  test('an exhausted pool gives the default number and says so', () => {
    let s = assignNumber(undefined, pool, 'v1', t0).state
    s = assignNumber(s, pool, 'v2', t0).state
    s = assignNumber(s, pool, 'v3', t0).state
    const d = assignNumber(s, pool, 'v4', t0)
    assert.deepEqual(d.assignment, { number: '+18005550100', pooled: false })
  })
  test('expired holds are recycled, least recently used first', () => {
    let s = assignNumber(undefined, pool, 'v1', t0).state // 0101 at t0
    s = assignNumber(s, pool, 'v2', t0 + MIN).state // 0102
    s = assignNumber(s, pool, 'v3', t0 + 2 * MIN).state // 0103
    const later = t0 + 40 * MIN // all holds expired
    const r = assignNumber(s, pool, 'v4', later)
    assert.equal(r.assignment.number, '+18005550101', 'the number used longest ago')
    const r2 = assignNumber(r.state, pool, 'v5', later)
    assert.equal(r2.assignment.number, '+18005550102')
  })
  test('max_holds_per_address: one sender holds at most its cap; its address is forgotten when the hold ends', () => {
    const capped = { ...pool, max_holds_per_address: 2 }
    const a = requesterKey('203.0.113.7')
    let s = assignNumber(undefined, capped, 'v1', t0, a).state
    s = assignNumber(s, capped, 'v2', t0, a).state
    const third = assignNumber(s, capped, 'v3', t0, a)
    assert.deepEqual(third.assignment, { number: '+18005550100', pooled: false, limited: true })
    assert.equal(assignNumber(s, capped, 'v1', t0 + MIN, a).assignment.pooled, true, 'a holder keeps its own')
    assert.equal(assignNumber(s, capped, 'v4', t0, requesterKey('198.51.100.2')).assignment.pooled, true)
    assert.equal(assignNumber(s, capped, 'v5', t0).assignment.pooled, true, 'no address: not counted')
    // once the holds end, the sender may hold again, and the pool no longer names its address
    const later = assignNumber(s, capped, 'v6', t0 + 40 * MIN, requesterKey('192.0.2.1'))
    assert.equal(later.assignment.pooled, true)
    assert.ok(Object.values(later.state.holds).every((h) => h.from !== a))
  })
  test('under contention on the real store: many visitors, a small pool, no number held twice', async () => {
    const store = openSqliteStore(':memory:')
    await store.migrate()
    const now = t0
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const u = dniUpdate('c1', pool, 'acme', `visitor-${i}`, now)
        return store.updateFacts(u.keys, u.update, now).then((a) => ({ visitor: `visitor-${i}`, ...a }))
      }),
    )
    const pooled = results.filter((r) => r.pooled)
    assert.equal(pooled.length, 3)
    assert.equal(new Set(pooled.map((r) => r.number)).size, 3, 'each number to one visitor')
    assert.equal(results.filter((r) => !r.pooled && r.number === pool.default_number).length, 37)
    // the call join sees who holds each number, only while the hold lasts
    const held = await store.updateFacts(
      pool.numbers.map(dniKey),
      (f) => ({ writes: {}, result: f }),
      now + 29 * MIN,
    )
    assert.equal(Object.keys(held).length, 3)
    const expired = await store.updateFacts(
      pool.numbers.map(dniKey),
      (f) => ({ writes: {}, result: f }),
      now + 31 * MIN,
    )
    assert.equal(Object.keys(expired).length, 0)
    await store.close()
  })
})
