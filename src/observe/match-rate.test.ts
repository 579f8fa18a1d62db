import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { HOUR_MS } from '../store/tallies.ts'
import type { DeliveryTally } from '../store/types.ts'
import { checkMatchRates, matchRateWindows } from './match-rate.ts'

const NOW = Date.UTC(2026, 11, 6, 14, 25)
const H = Date.UTC(2026, 11, 6, 14) // the hour under way
const w = matchRateWindows(NOW, { window_hours: 24, baseline_days: 7 })
const cfg = { min_deliveries: 20, drop: 0.15 }

function tally(
  hour: number,
  reported: number,
  matched: number,
  over: Partial<DeliveryTally> = {},
): DeliveryTally {
  return {
    hour,
    campaign: 'mortgage-ny',
    destination: 'meta',
    signal: 'qualified_call',
    currency: 'USD',
    status: 'delivered',
    deliveries: reported,
    reported,
    matched,
    value: 0,
    ...over,
  }
}

describe('match rate', () => {
  test('windows: the last 24 hours with the hour under way, then the 7 days before', () => {
    assert.deepEqual(w.current, { fromMs: H + HOUR_MS - 24 * HOUR_MS, toMs: H + HOUR_MS })
    assert.deepEqual(w.baseline, { fromMs: w.current.fromMs - 7 * 24 * HOUR_MS, toMs: w.current.fromMs })
    assert.deepEqual(w.all, { fromMs: w.baseline.fromMs, toMs: w.current.toMs })
  })

  test('a drop of at least `drop` below the baseline alerts; a smaller one or a rise does not', () => {
    const base = w.baseline.fromMs + HOUR_MS
    const checks = checkMatchRates(
      [
        tally(base, 100, 90), // 90 %
        tally(H, 20, 15), // 75 %: 15 points down
        tally(base, 100, 90, { destination: 'google' }),
        tally(H, 20, 16, { destination: 'google' }), // 80 %: 10 points down
        tally(base, 100, 50, { destination: 'tiktok' }),
        tally(H, 20, 20, { destination: 'tiktok' }), // up
      ],
      w,
      cfg,
    )
    assert.deepEqual(
      checks.map((c) => [c.destination, c.alert, c.current.rate, c.baseline.rate]),
      [
        ['meta', true, 0.75, 0.9],
        ['google', false, 0.8, 0.9],
        ['tiktok', false, 1, 0.5],
      ],
    )
  })

  test('too few deliveries in either window: no alert, however far the rate fell', () => {
    const base = w.baseline.fromMs
    const few = checkMatchRates([tally(base, 100, 100), tally(H, 19, 0)], w, cfg)
    assert.equal(few[0].alert, false)
    const thinBaseline = checkMatchRates([tally(base, 19, 19), tally(H, 100, 0)], w, cfg)
    assert.equal(thinBaseline[0].alert, false)
    const enough = checkMatchRates([tally(base, 20, 20), tally(H, 20, 0)], w, cfg)
    assert.equal(enough[0].alert, true)
  })

  test('pairs apart: campaigns, destinations, no campaign; hours outside both windows and unreported rows ignored', () => {
    const checks = checkMatchRates(
      [
        tally(H, 10, 5),
        tally(H - HOUR_MS, 10, 5), // same pair, summed
        tally(H, 4, 4, { campaign: null }),
        tally(H, 7, 0, { campaign: 'auto' }),
        tally(w.baseline.fromMs - HOUR_MS, 50, 50), // before the baseline
        tally(w.current.toMs, 50, 50), // after now
        tally(H, 0, 0, { destination: 'hook', status: 'delivered', deliveries: 9 }), // a webhook: no keys
      ],
      w,
      cfg,
    )
    assert.deepEqual(
      checks.map((c) => [c.campaign, c.destination, c.current.reported, c.current.matched, c.baseline.rate]),
      [
        ['auto', 'meta', 7, 0, null],
        ['mortgage-ny', 'meta', 20, 10, null],
        [null, 'meta', 4, 4, null],
      ],
    )
  })
})
