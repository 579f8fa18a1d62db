import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { DeliveryTally } from '../store/types.ts'
import { reconcile } from './reconcile.ts'

const D1 = Date.UTC(2026, 11, 5)
const D2 = Date.UTC(2026, 11, 6)
const HOUR = 3_600_000
const days = { from: '2026-12-05', to: '2026-12-06', timezone: 'UTC' }

const delivery = (over: Partial<DeliveryTally>): DeliveryTally => ({
  hour: D1,
  campaign: 'ny',
  destination: 'meta',
  signal: 'qualified_call',
  currency: 'USD',
  status: 'delivered',
  deliveries: 1,
  reported: 0,
  matched: 0,
  value: 0,
  ...over,
})

describe('reconciliation', () => {
  test('intake by day, campaign and source; conversions by signal and destination with every state', () => {
    const r = reconcile(
      {
        events: [
          { hour: D1 + HOUR, source: 'twilio', campaign: 'ny', status: 'accepted', events: 5 },
          { hour: D1 + 2 * HOUR, source: 'twilio', campaign: 'ny', status: 'accepted', events: 2 },
          { hour: D1 + 2 * HOUR, source: 'twilio', campaign: 'ny', status: 'duplicate', events: 1 },
          { hour: D1, source: 'ecapi', campaign: null, status: 'accepted', events: 3 },
          { hour: D2, source: 'twilio', campaign: 'ny', status: 'accepted', events: 4 },
        ],
        signals: [
          {
            hour: D1 + HOUR,
            campaign: 'ny',
            signal: 'qualified_call',
            currency: 'USD',
            signals: 3,
            value: 300,
            unrouted: 0,
            unroutedValue: 0,
          },
          {
            hour: D1 + 5 * HOUR,
            campaign: 'ny',
            signal: 'qualified_call',
            currency: 'USD',
            signals: 1,
            value: 100,
            unrouted: 0,
            unroutedValue: 0,
          },
          {
            hour: D1,
            campaign: null,
            signal: 'purchase',
            currency: null,
            signals: 2,
            value: 0,
            unrouted: 2,
            unroutedValue: 0,
          },
        ],
      },
      [
        delivery({ hour: D1 + HOUR, deliveries: 2, reported: 2, matched: 1, value: 200 }),
        delivery({ hour: D1 + 5 * HOUR, status: 'pending', value: 100 }),
        delivery({ hour: D1 + HOUR, status: 'dead', value: 100 }),
        delivery({ hour: D1 + HOUR, destination: 'google', status: 'in_flight', value: 100 }),
        delivery({
          hour: D1 + HOUR,
          destination: 'google',
          deliveries: 3,
          value: 300,
          reported: 3,
          matched: 3,
        }),
      ],
      days,
    )
    assert.equal(r.from, '2026-12-05')
    assert.equal(r.to, '2026-12-06')
    assert.equal(r.timezone, 'UTC')
    assert.deepEqual(r.intake, [
      { day: '2026-12-05', campaign: 'ny', source: 'twilio', accepted: 7, duplicate: 1 },
      { day: '2026-12-05', campaign: null, source: 'ecapi', accepted: 3, duplicate: 0 },
      { day: '2026-12-06', campaign: 'ny', source: 'twilio', accepted: 4, duplicate: 0 },
    ])
    const common = {
      day: '2026-12-05',
      campaign: 'ny',
      signal: 'qualified_call',
      currency: 'USD',
      signals: 4,
      value: 400,
    }
    assert.deepEqual(r.conversions, [
      {
        ...common,
        destination: 'google',
        delivered: 3,
        pending: 1,
        dead: 0,
        skipped: 0,
        deliveredValue: 300,
        reported: 3,
        matched: 3,
      },
      {
        ...common,
        destination: 'meta',
        delivered: 2,
        pending: 1,
        dead: 1,
        skipped: 0,
        deliveredValue: 200,
        reported: 2,
        matched: 1,
      },
      // routed nowhere, and without a currency
      {
        day: '2026-12-05',
        campaign: null,
        signal: 'purchase',
        currency: 'XXX',
        signals: 2,
        value: 0,
        destination: null,
        delivered: 0,
        pending: 0,
        dead: 0,
        skipped: 0,
        deliveredValue: 0,
        reported: 0,
        matched: 0,
      },
    ])
  })

  test('nothing in the range: empty lists', () => {
    assert.deepEqual(reconcile({ events: [], signals: [] }, [], days), {
      from: '2026-12-05',
      to: '2026-12-06',
      timezone: 'UTC',
      intake: [],
      conversions: [],
    })
  })

  test('days of the zone asked for: a bucket is labelled with its local day', () => {
    // buckets that start at New York's midnights (05:00 UTC in winter)
    const ny = { from: '2026-12-05', to: '2026-12-06', timezone: 'America/New_York' }
    const r = reconcile(
      {
        events: [
          { hour: Date.UTC(2026, 11, 5, 5), source: 'twilio', campaign: 'ny', status: 'accepted', events: 2 },
          { hour: Date.UTC(2026, 11, 6, 5), source: 'twilio', campaign: 'ny', status: 'accepted', events: 3 },
        ],
        signals: [],
      },
      [],
      ny,
    )
    assert.deepEqual(
      r.intake.map((i) => [i.day, i.accepted]),
      [
        ['2026-12-05', 2],
        ['2026-12-06', 3],
      ],
    )
    assert.equal(r.timezone, 'America/New_York')
  })

  test('a conditional route: the destination has what was routed to it, the rest a row of its own', () => {
    const r = reconcile(
      {
        events: [],
        signals: [
          {
            hour: D1,
            campaign: 'ny',
            signal: 'closed_outcome',
            currency: 'USD',
            signals: 10,
            value: 600,
            unrouted: 4,
            unroutedValue: 0,
          },
        ],
      },
      [delivery({ signal: 'closed_outcome', destination: 'google', deliveries: 6, value: 600 })],
      days,
    )
    assert.deepEqual(
      r.conversions.map((c) => [c.destination, c.signals, c.value, c.delivered]),
      [
        ['google', 10, 600, 6],
        [null, 4, 0, 0],
      ],
    )
  })
})
