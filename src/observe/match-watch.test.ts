/**
 * The match-rate alert against a real SQLite store: deliveries written with explicit times (a baseline
 * week with the click ids, then a day without), checks at a fixed `now`, gauges read from the registry.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { deliverAt } from '../../test/helpers/deliveries.ts'
import { tempSqliteStore } from '../../test/helpers/sqlite.ts'
import { openSqliteStore } from '../store/sqlite/index.ts'
import type { Store } from '../store/types.ts'
import { claimInStore } from './alerts.ts'
import { watchMatchRates } from './match-watch.ts'
import { createMetrics } from './metrics.ts'
import { matchRateReport } from './report.ts'

const HOUR = 3_600_000
const NOW = Date.UTC(2026, 11, 6, 14, 30)
const deliver = (store: Store, at: number, count: number, keys: string[]) =>
  deliverAt(store, at, count, keys, { campaign: 'mortgage-ny' })

describe('match-rate watch', () => {
  let dir: string
  let store: Store
  let cleanup: () => Promise<void>
  before(async () => {
    ;({ dir, store, cleanup } = await tempSqliteStore('closeloop-match-', 'watch.db'))
  })
  after(() => cleanup())

  test('too few conversions left to judge is not a recovery: the pair stays alerting until measured', async () => {
    const own = await tempSqliteStore('closeloop-match-quiet-', 'quiet.db')
    const metrics = createMetrics()
    const quiet = { info() {}, warn() {} }
    const cfg = { window_hours: 24, baseline_days: 7, min_deliveries: 20, drop: 0.15, check_every_s: 3600 }
    let now = NOW
    const changes: string[] = []
    const watch = watchMatchRates({
      report: (at) => matchRateReport(own.store, cfg, at),
      cfg,
      metrics,
      log: quiet,
      notify: async (change, c) => {
        changes.push(`${change} ${c.current.rate}`)
      },
      now: () => now,
    })
    const alertGauge = async () =>
      /closeloop_match_rate_alert\{campaign="mortgage-ny",destination="meta"\} 1$/m.test(
        await metrics.registry.metrics(),
      )
    try {
      await deliverAt(own.store, NOW - 72 * HOUR, 40, ['fbc'], { campaign: 'mortgage-ny' })
      await deliverAt(own.store, NOW - HOUR, 25, [], { campaign: 'mortgage-ny' })
      await watch.check()
      assert.deepEqual(changes, ['dropped 0'])
      // a day on, the bad hour left the current window and nothing new came: unjudged, still alerting
      now = NOW + 24 * HOUR
      await watch.check()
      assert.deepEqual(changes, ['dropped 0'], 'no "recovered (0 %)"')
      assert.ok(await alertGauge())
      // click ids are back on enough conversions: recovered, once
      await deliverAt(own.store, now - HOUR, 25, ['fbc'], { campaign: 'mortgage-ny' })
      await watch.check()
      assert.deepEqual(changes, ['dropped 0', 'recovered 1'])
      assert.ok(!(await alertGauge()))
    } finally {
      await watch.stop()
      await own.cleanup()
    }
  })

  test('a drop alerts once, in the log and the gauges; recovery is logged once too', async () => {
    // baseline: 3 days ago, 40 of 40 with a click id; today: 5 of 25
    await deliver(store, NOW - 72 * HOUR, 40, ['fbc'])
    await deliver(store, NOW - 2 * HOUR, 5, ['fbc'])
    await deliver(store, NOW - HOUR, 20, [])
    const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = []
    const log = {
      info: (obj: object, msg?: string) =>
        lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      warn: (obj: object, msg?: string) =>
        lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    }
    const metrics = createMetrics()
    let now = NOW
    const cfg = { window_hours: 24, baseline_days: 7, min_deliveries: 20, drop: 0.15, check_every_s: 3600 }
    const changes: string[] = []
    const watch = watchMatchRates({
      report: (at) => matchRateReport(store, cfg, at),
      cfg,
      metrics,
      log,
      notify: async (change, c) => {
        changes.push(`${change} ${c.campaign} ${c.destination} ${c.current.rate}`)
      },
      now: () => now,
    })
    try {
      const alerting = await watch.check()
      assert.deepEqual(
        alerting.map((c) => [c.campaign, c.destination, c.current.rate, c.baseline.rate]),
        [['mortgage-ny', 'meta', 0.2, 1]],
      )
      assert.deepEqual(lines, [
        {
          level: 'warn',
          obj: {
            campaign: 'mortgage-ny',
            destination: 'meta',
            current_pct: 20,
            baseline_pct: 100,
            delivered: 25,
          },
          msg: 'match rate dropped below its baseline',
        },
      ])
      const text = await metrics.registry.metrics()
      assert.match(
        text,
        /^closeloop_match_rate\{campaign="mortgage-ny",destination="meta",window="current"\} 0\.2$/m,
      )
      assert.match(
        text,
        /^closeloop_match_rate\{campaign="mortgage-ny",destination="meta",window="baseline"\} 1$/m,
      )
      assert.match(text, /^closeloop_match_rate_alert\{campaign="mortgage-ny",destination="meta"\} 1$/m)

      // checked again: still alerting, nothing new logged or sent
      await watch.check()
      assert.equal(lines.length, 1)
      assert.deepEqual(changes, ['dropped mortgage-ny meta 0.2'])

      // the click ids come back: 200 matched this hour lift the day to 205 of 225 (91 %), within 15 points
      await deliver(store, NOW, 200, ['em', 'fbc'])
      assert.deepEqual(await watch.check(), [])
      assert.deepEqual(lines.slice(1), [
        { level: 'info', obj: { campaign: 'mortgage-ny', destination: 'meta' }, msg: 'match rate recovered' },
      ])
      // the recovery is sent with the rates as they are now (205 of 225)
      assert.equal(changes.length, 2)
      assert.match(changes[1], /^recovered mortgage-ny meta 0\.911/)
      assert.match(
        await metrics.registry.metrics(),
        /^closeloop_match_rate_alert\{campaign="mortgage-ny",destination="meta"\} 0$/m,
      )

      // a week on, today's deliveries are the baseline and nothing is current: no series for `current`
      now = NOW + 3 * 24 * HOUR
      await watch.check()
      const later = await metrics.registry.metrics()
      assert.doesNotMatch(later, /window="current"/)
      assert.match(later, /window="baseline"\} 0\.9245/) // 245 of 265
    } finally {
      await watch.stop()
    }
  })

  test('checks by itself: the first soon after start, then every check_every_s; stop waits for one under way', async () => {
    const metrics = createMetrics()
    const at: number[] = []
    const quiet = { info: () => undefined, warn: () => undefined }
    const cfg = { window_hours: 24, baseline_days: 7, min_deliveries: 20, drop: 0.15, check_every_s: 2 }
    let inFlight = false
    const started = Date.now()
    const watch = watchMatchRates({
      report: async (now) => {
        at.push(Date.now() - started)
        inFlight = true
        // a slow read: stop must wait for it
        await new Promise((r) => setTimeout(r, 300))
        const r = await matchRateReport(store, cfg, now)
        inFlight = false
        return r
      },
      cfg,
      metrics,
      log: quiet,
      now: () => NOW,
      firstCheckMs: 100,
    })
    try {
      while (at.length < 2 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20))
      // the first at ~0.1 s, not at the interval; the next at the interval (~2 s)
      assert.ok(at[0] < 1_500, `first at ${at[0]} ms`)
      assert.ok(at[1] >= 1_900, `second at ${at[1]} ms`)
      assert.match(await metrics.registry.metrics(), /^closeloop_match_rate_alert\{campaign="mortgage-ny"/m)
      while (!inFlight && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20))
    } finally {
      await watch.stop()
    }
    assert.equal(inFlight, false, 'stop waited for the check under way')
    const checks = at.length
    await new Promise((r) => setTimeout(r, 2_500))
    assert.equal(at.length, checks, 'stopped')
  })

  test('a receiver that never answers holds up neither the next checks nor stop', async () => {
    const metrics = createMetrics()
    const quiet = { info: () => undefined, warn: () => undefined }
    const cfg = { window_hours: 24, baseline_days: 7, min_deliveries: 20, drop: 0.15, check_every_s: 1 }
    const pair = (campaign: string) => ({
      campaign,
      destination: 'meta',
      current: { reported: 25, matched: 0, rate: 0 },
      baseline: { reported: 40, matched: 40, rate: 1 },
      alert: true,
      measured: true,
    })
    let reports = 0
    const started = Date.now()
    const watch = watchMatchRates({
      // a new campaign drops at every check; each drop's alert hangs (a receiver down, retrying)
      report: async () => {
        reports++
        return { checks: [pair(`c${reports}`)] } as unknown as Awaited<ReturnType<typeof matchRateReport>>
      },
      cfg,
      metrics,
      log: quiet,
      notify: () => new Promise<void>(() => undefined),
      now: () => NOW,
      firstCheckMs: 50,
    })
    try {
      while (reports < 3 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20))
      assert.ok(reports >= 3, 'checks went on while the first alert hung')
      assert.match(
        await metrics.registry.metrics(),
        /closeloop_match_rate_alert\{campaign="c3",destination="meta"\} 1/,
      )
    } finally {
      const t = Date.now()
      await watch.stop()
      assert.ok(Date.now() - t < 1_000, `stop took ${Date.now() - t} ms`)
    }
  })

  test('a recovery while the node was down is sent by its next first check, once; a drop once too', async () => {
    const file = openSqliteStore(join(dir, 'restart.db'))
    await file.migrate()
    try {
      await deliverAt(file, NOW - 72 * HOUR, 40, ['fbc'], { campaign: 'solar' })
      await deliverAt(file, NOW - HOUR, 25, [], { campaign: 'solar' })
      const cfg = { window_hours: 24, baseline_days: 7, min_deliveries: 20, drop: 0.15, check_every_s: 3600 }
      const claim = claimInStore(file)
      const sent: string[] = []
      const quiet = { info: () => undefined, warn: () => undefined }
      /** A node: a watcher with its own memory, sending through the store's claim. */
      const node = () =>
        watchMatchRates({
          report: (at) => matchRateReport(file, cfg, at),
          cfg,
          metrics: createMetrics(),
          log: quiet,
          notify: async (change, c) => {
            if (await claim(`alert:match_rate:${JSON.stringify([c.campaign, c.destination])}`, change))
              sent.push(`${change} ${c.campaign}`)
          },
          now: () => NOW,
        })
      const a = node()
      const b = node()
      await Promise.all([a.check(), b.check()])
      assert.deepEqual(sent, ['dropped solar'], 'two nodes, one alert')
      await a.stop()
      await b.stop()
      // while no node runs, the click ids come back
      await deliverAt(file, NOW, 300, ['fbc'], { campaign: 'solar' })
      const c = node()
      await c.check()
      assert.deepEqual(sent, ['dropped solar', 'recovered solar'])
      await c.check()
      await c.stop()
      const d = node()
      await d.check()
      await d.stop()
      assert.deepEqual(sent, ['dropped solar', 'recovered solar'], 'sent once')
    } finally {
      await file.close()
    }
  })
})
