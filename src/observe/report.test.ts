import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { reconciliationCsv, reportText } from './render.ts'
import { dayRange, daySegments } from './report.ts'

const NOW = Date.UTC(2026, 11, 6, 15, 30)
const DAY = 86_400_000

describe('report days', () => {
  const days = (q: { from?: string; to?: string }, tz?: string) => {
    const r = dayRange(q, NOW, tz)
    assert.ok('days' in r, JSON.stringify(r))
    return r.days
  }

  test('defaults: the last seven days, today included', () => {
    assert.deepEqual(days({}), {
      from: '2026-11-30',
      to: '2026-12-06',
      timezone: 'UTC',
      range: { fromMs: Date.UTC(2026, 10, 30), toMs: Date.UTC(2026, 11, 7) },
    })
  })

  test('from and to are whole days of the zone, both included', () => {
    assert.deepEqual(days({ from: '2026-12-01', to: '2026-12-01' }).range, {
      fromMs: Date.UTC(2026, 11, 1),
      toMs: Date.UTC(2026, 11, 1) + DAY,
    })
    // in Tokyo (UTC+9) it is already 2026-12-07 at NOW, 00:30
    const tokyo = days({}, 'Asia/Tokyo')
    assert.equal(tokyo.to, '2026-12-07')
    assert.deepEqual(tokyo.range, { fromMs: Date.UTC(2026, 11, 0, 15), toMs: Date.UTC(2026, 11, 7, 15) })
  })

  test('bad days and zones name their field', () => {
    assert.deepEqual(dayRange({ from: '2026-02-30' }, NOW), {
      errors: [{ path: '/from', message: 'must be a date, YYYY-MM-DD' }],
    })
    for (const to of ['9999-12-31', '0099-12-30', '1969-12-31'])
      assert.deepEqual(dayRange({ to }, NOW), {
        errors: [{ path: '/to', message: 'must be a date, YYYY-MM-DD' }],
      })
    assert.deepEqual(dayRange({ to: '12/06/2026' }, NOW), {
      errors: [{ path: '/to', message: 'must be a date, YYYY-MM-DD' }],
    })
    assert.deepEqual(dayRange({ from: '2026-12-06', to: '2026-12-05' }, NOW), {
      errors: [{ path: '/from', message: 'must not be after to' }],
    })
    assert.deepEqual(dayRange({ from: '2026-01-01', to: '2026-12-06' }, NOW), {
      errors: [{ path: '/from', message: 'at most 92 days per report' }],
    })
    assert.ok('days' in dayRange({ from: '2026-09-06', to: '2026-12-06' }, NOW)) // 92 days
    assert.deepEqual(dayRange({}, NOW, 'Mars/Olympus'), {
      errors: [{ path: '/tz', message: 'must be an IANA time zone' }],
    })
  })

  test('segments: runs of 24-hour days as day buckets; a DST day is a bucket of its own', () => {
    const utc = daySegments(days({ from: '2026-12-01', to: '2026-12-06' }))
    assert.deepEqual(utc, [
      {
        range: { fromMs: Date.UTC(2026, 11, 1), toMs: Date.UTC(2026, 11, 7) },
        buckets: { ms: DAY, startMs: Date.UTC(2026, 11, 1) },
      },
    ])
    // New York leaves summer time on 2026-11-01: that day has 25 hours
    const ny = daySegments(days({ from: '2026-10-30', to: '2026-11-03' }, 'America/New_York'))
    assert.deepEqual(ny, [
      {
        range: { fromMs: Date.UTC(2026, 9, 30, 4), toMs: Date.UTC(2026, 10, 1, 4) },
        buckets: { ms: DAY, startMs: Date.UTC(2026, 9, 30, 4) },
      },
      {
        range: { fromMs: Date.UTC(2026, 10, 1, 4), toMs: Date.UTC(2026, 10, 2, 5) },
        buckets: { ms: 25 * 3_600_000, startMs: Date.UTC(2026, 10, 1, 4) },
      },
      {
        range: { fromMs: Date.UTC(2026, 10, 2, 5), toMs: Date.UTC(2026, 10, 4, 5) },
        buckets: { ms: DAY, startMs: Date.UTC(2026, 10, 2, 5) },
      },
    ])
  })
})

describe('report rendering', () => {
  const row = {
    day: '2026-12-05',
    campaign: '=HYPERLINK("x")',
    signal: 'disposition:Sale',
    currency: 'USD',
    signals: 2,
    value: 1234.567,
    destination: 'meta',
    delivered: 1,
    pending: 0,
    dead: 1,
    skipped: 0,
    deliveredValue: 617.2835,
    reported: 3,
    matched: 2,
  }
  const recon = { from: '2026-12-05', to: '2026-12-06', timezone: 'UTC', intake: [], conversions: [row] }

  test('CSV: text cells that start like a formula are defused, whatever follows; numbers are not touched', () => {
    const csv = (campaign: string) =>
      reconciliationCsv({ ...recon, conversions: [{ ...row, campaign, value: -5 }] }).split('\r\n')[1]
    assert.match(csv("-2+3+cmd|' /C calc'!A0"), /^2026-12-05,'-2\+3\+cmd/)
    assert.match(csv('@SUM(A1)'), /^2026-12-05,'@SUM/)
    assert.match(csv('\tx'), /^2026-12-05,'\tx/)
    assert.match(csv('plain'), /^2026-12-05,plain,disposition:Sale,2,-5,/)
  })

  test('text: control characters in a name are shown, not sent to the terminal', () => {
    const text = reportText(
      { ...recon, conversions: [{ ...row, campaign: 'evil\u001b[2J' }] },
      {
        current: { from: 'a', to: 'b' },
        baseline: { from: 'c', to: 'd' },
        drop: 0.15,
        min_deliveries: 20,
        checks: [],
      },
    )
    assert.ok(!text.includes('\u001b'))
    assert.match(text, /evil\\x1b\[2J/)
  })

  test('CSV: a header, one line per row, quoted where needed, formulas defused', () => {
    assert.equal(
      reconciliationCsv(recon),
      'day,campaign,signal,signals,value,currency,destination,delivered,pending,dead,skipped,delivered_value,match_rate\r\n' +
        `2026-12-05,"'=HYPERLINK(""x"")",disposition:Sale,2,1234.57,USD,meta,1,0,1,0,617.28,66.7%\r\n`,
    )
  })

  test('text: aligned columns and the alerting pairs named', () => {
    const text = reportText(recon, {
      current: { from: 'a', to: 'b' },
      baseline: { from: 'c', to: 'd' },
      drop: 0.15,
      min_deliveries: 20,
      checks: [
        {
          campaign: null,
          destination: 'meta',
          current: { reported: 40, matched: 10, rate: 0.25 },
          baseline: { reported: 200, matched: 180, rate: 0.9 },
          alert: true,
          measured: true,
        },
      ],
    })
    assert.match(text, /Reconciliation 2026-12-05 … 2026-12-06 \(days in UTC,/)
    assert.match(text, /\(no events\)/)
    assert.match(text, /^2026-12-05 {2}=HYPERLINK\("x"\) {2}disposition:Sale {2}2 {8}1234\.57/m)
    assert.match(text, /^\(none\) {4}meta {9}25% {6}40 {9}90% {7}200 {8}DROP ≥ 15 points$/m)
  })
})
