/**
 * Call rules end to end through the real SQLite store: `store.ingest` runs each item's `derive` in its
 * transaction, `store.fireTimers` fires qualify timers, and the tests read the signals and timers tables
 * back through a second connection to the same file.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, describe, test } from 'node:test'
import type { CallExtension } from '../../model/call.ts'
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { Signal } from '../../model/signal.ts'
import { openSqliteStore } from '../../store/sqlite/index.ts'
import type { IngestItem, Store } from '../../store/types.ts'
import { dniKey, leadKey, legacyLeadKey, visitorKey } from '../attribution/index.ts'
import { ecapiItem, type PipelineConfig } from '../ecapi.ts'
import { legacyNames } from '../names.ts'
import { compileRoutes } from '../route.ts'
import { type CallRules, callItem, compileCallRules, fireCallTimer, timerJourneyKey } from './index.ts'
import type { CallJourney } from './journey.ts'
import { legacyRepeatFactKey } from './rules.ts'

/** Tue 6 May 2025 19:07:44 UTC (15:07 in New York): a weekday afternoon. */
const T0 = 1746558464
const CALLER = '+12125550000'
const DAY = 86_400

const dir = mkdtempSync(join(tmpdir(), 'closeloop-calls-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const pipeline: PipelineConfig = {
  routes: compileRoutes([
    { signals: ['*'], to: ['log'] },
    { signals: ['disposition:*', 'closed_outcome', 'correction'], to: ['affiliate'] },
  ]).routes,
  activeDestinations: new Set(['log', 'affiliate']),
  consentDefault: 'granted',
}

const BASE_RULES = {
  campaigns: { default: { qualified_after_s: 120 }, 'mortgage-*': { preset: 'mortgage' } },
}

let dbN = 0
let rawN = 0

interface Harness {
  store: Store
  rules: CallRules
  /** Ingest events as one raw input at `nowS` (default: the last event's timestamp + 1 s). */
  send(events: EcapiEvent | EcapiEvent[], nowS?: number): Promise<string[][]>
  fire(nowS: number): Promise<number>
  signals(): Signal[]
  named(name: string): Signal[]
  timers(): Array<{ key: string; due_at: number }>
  journey(key: string): CallJourney | undefined
  /** Runs a statement on the store's file, as an earlier build's writes would have left it. */
  sql(sql: string, ...params: string[]): void
  /** Writes facts as another input would have (a DNI hold, a fact from an older build) at `atS`. */
  putFacts(facts: Record<string, { value: unknown; ttlMs: number }>, atS: number): Promise<void>
}

async function harness(raw: Parameters<typeof compileCallRules>[0] = BASE_RULES): Promise<Harness> {
  const { rules, errors } = compileCallRules(raw)
  assert.deepEqual(errors, [])
  const path = join(dir, `t${++dbN}.db`)
  const store = openSqliteStore(path, { synchronous: 'NORMAL' })
  await store.migrate()
  const db = new DatabaseSync(path)
  const rows = (sql: string, ...p: string[]) =>
    db
      .prepare(sql)
      .all(...p)
      .map((r) => ({ ...r })) as Array<Record<string, unknown>>
  const h: Harness = {
    store,
    rules,
    async send(events, nowS) {
      const list = Array.isArray(events) ? events : [events]
      const holdbacks: string[][] = []
      const items = list.map((e): IngestItem => {
        const item = callItem(e, rules, pipeline)
        return {
          ...item,
          derive(ctx) {
            const d = item.derive(ctx)
            holdbacks.push(d.holdbacks ?? [])
            return d
          },
        }
      })
      const now = (nowS ?? list[list.length - 1].timestamp + 1) * 1000
      await store.ingest(
        {
          raw: {
            id: `raw_${++rawN}`,
            source: 'test',
            kind: 'call',
            receivedAt: now,
            headers: {},
            body: JSON.stringify(list),
          },
          items,
        },
        now,
      )
      return holdbacks
    },
    async putFacts(facts, atS) {
      await store.ingest(
        {
          raw: {
            id: `raw_${++rawN}`,
            source: 'test',
            kind: 'x',
            receivedAt: atS * 1000,
            headers: {},
            body: '',
          },
          items: [
            { event: call({ call_id: `facts-${rawN}`, at: atS }), derive: () => ({ facts, signals: [] }) },
          ],
        },
        atS * 1000,
      )
    },
    async fire(nowS) {
      const r = await store.fireTimers({
        token: 'tok',
        now: nowS * 1000,
        limit: 100,
        fire: (t, ctx) => fireCallTimer(t, ctx, rules, pipeline),
        journeyKey: timerJourneyKey,
      })
      return r.fired
    },
    signals: () =>
      rows('SELECT body FROM signals ORDER BY rowid').map((r) => JSON.parse(String(r.body)) as Signal),
    named: (name) => h.signals().filter((s) => s.name === name),
    timers: () => rows('SELECT key, due_at FROM timers') as Array<{ key: string; due_at: number }>,
    sql: (sql, ...p) => void db.prepare(sql).run(...p),
    journey(key) {
      const r = rows('SELECT state FROM journeys WHERE key = ?', key)[0]
      return r ? (JSON.parse(String(r.state)) as CallJourney) : undefined
    },
  }
  return h
}

/** A call event as a telephony source maps it. */
function call(c: Partial<CallExtension> & { at: number }, extra: Partial<EcapiEvent> = {}): EcapiEvent {
  const { at, ...rest } = c
  return {
    data_set_id: 'acme',
    timestamp: at,
    event_type: 'contact',
    source: 'phone_call',
    ...extra,
    ext: {
      call: {
        call_id: 'CA1',
        caller: CALLER,
        tracking_number: '+18005550100',
        campaign: 'mortgage-ny',
        ...rest,
      },
      click_ids: { gclid: 'G-1', attribution: 'dni' },
      ...(extra.ext ?? {}),
    },
  }
}

const disposition = (
  name: string,
  at: number,
  value?: number,
  callId = 'CA1',
  extra: Partial<EcapiEvent> = {},
) =>
  call(
    { call_id: callId, disposition: name, at },
    { event_type: 'custom', ...(value !== undefined ? { value } : {}), ...extra },
  )

const names = (h: Harness) => h.signals().map((s) => s.name)

describe('a full call', () => {
  test('ringing → answered → floor → completed → Sale → CRM outcome by phone days later', async () => {
    const h = await harness()
    await h.send(call({ status: 'ringing', at: T0, sequence: 0 }))
    await h.send(call({ status: 'answered', at: T0 + 5, sequence: 1 }))
    assert.deepEqual(names(h), ['call_connected'])
    // mortgage preset: 180 s floor, timer armed at answer
    assert.deepEqual(h.timers(), [{ key: 'qualify:call:acme:CA1', due_at: (T0 + 5 + 180) * 1000 }])
    assert.equal(await h.fire(T0 + 100), 0, 'not due yet')
    assert.equal(await h.fire(T0 + 185), 1)
    assert.deepEqual(names(h), ['call_connected', 'qualified_call'])
    await h.send(call({ status: 'completed', at: T0 + 400, sequence: 2, duration_s: 395 }))
    await h.send(disposition('Sale', T0 + 500, 500))
    // the CRM knows the caller's phone and its own order id, not the call
    await h.send(
      {
        data_set_id: 'acme',
        timestamp: T0 + 3 * DAY,
        event_type: 'close_convert_lead',
        value: 1800,
        currency_code: 'usd',
        properties: { transaction_id: 'LOAN-77' },
        user_data: { phone_numbers: ['(212) 555-0000'] },
      },
      T0 + 3 * DAY,
    )
    const all = h.signals()
    assert.deepEqual(
      all.map((s) => s.name),
      ['call_connected', 'qualified_call', 'disposition:Sale', 'closed_outcome'],
    )
    const [connected, qualified, sale, closed] = all
    assert.equal(connected.occurredAt, T0 + 5)
    assert.equal(connected.value, undefined, 'no micro value configured')
    assert.equal(qualified.occurredAt, T0 + 185)
    assert.equal(qualified.attrs.judged, 'live')
    assert.equal(qualified.attrs.floor_s, 180)
    assert.equal(qualified.attrs.campaign, 'mortgage-*')
    assert.equal(sale.value, 500)
    assert.equal(sale.currency, 'USD')
    assert.equal(sale.attrs.disposition, 'Sale')
    assert.equal(sale.event.event_type, 'close_convert_lead')
    assert.equal(closed.value, 1800)
    assert.equal(closed.attrs.linked_by, 'phone')
    assert.equal(closed.attrs.order_id, 'LOAN-77')
    assert.equal(closed.event.ext?.call?.call_id, 'CA1')
    assert.equal(closed.event.ext?.click_ids?.gclid, 'G-1', 'the call journey enriches the CRM signal')
    for (const s of all) {
      assert.ok(s.causes.length > 0 && s.causes.every((c) => c.startsWith('raw_')), `${s.name} has causes`)
      assert.equal(s.attrs.attribution, 'dni')
    }
    assert.ok(connected.causes.includes(`raw_${rawN - 3}`), 'the answered input caused call_connected')
    assert.equal(new Set(all.map((s) => s.id)).size, 4)
    assert.deepEqual(h.timers(), [])
    await h.store.close()
  })

  test('completed before answered still yields call_connected and qualified_call once', async () => {
    const h = await harness()
    await h.send(call({ status: 'completed', at: T0 + 300, sequence: 3, duration_s: 290 }))
    assert.deepEqual(names(h), ['call_connected', 'qualified_call'])
    assert.equal(h.named('call_connected')[0].occurredAt, T0 + 10, 'answered = ended − duration')
    await h.send(call({ status: 'answered', at: T0 + 10, sequence: 1 }))
    await h.send(call({ status: 'ringing', at: T0, sequence: 0 }))
    assert.deepEqual(names(h), ['call_connected', 'qualified_call'])
    assert.deepEqual(h.timers(), [], 'an ended call arms no timer')
    const j = h.journey('call:acme:CA1')!
    assert.deepEqual(j.legs.CA1.terminal?.status, 'completed', 'a late ringing does not regress the call')
  })

  test('shuffled and duplicated callbacks yield the same signals once', async () => {
    const events = [
      call({ status: 'ringing', at: T0, sequence: 0 }),
      call({ status: 'answered', at: T0 + 4, sequence: 1 }),
      call({ status: 'completed', at: T0 + 250, sequence: 2, duration_s: 246 }),
      disposition('Qualified Lead', T0 + 300, 1000),
    ]
    let reference: Array<{ id: string; name: string; value?: number }> | undefined
    let seed = 7
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let round = 0; round < 6; round++) {
      const h = await harness()
      // each event twice, the repeat in a later dedup bucket so it reaches derive
      const input = [...events, ...events.map((e) => ({ ...e, timestamp: e.timestamp + 7 }))]
      for (let i = input.length - 1; i > 0; i--) {
        const k = Math.floor(rand() * (i + 1))
        ;[input[i], input[k]] = [input[k], input[i]]
      }
      for (const e of input) await h.send(e, T0 + 400)
      const got = h
        .signals()
        .map((s) => ({ id: s.id, name: s.name, value: s.value }))
        .sort((a, b) => a.name.localeCompare(b.name))
      assert.deepEqual(
        got.map((s) => s.name),
        ['call_connected', 'disposition:Qualified Lead', 'qualified_call'],
        `round ${round}`,
      )
      assert.equal(got[1].value, 300, 'Qualified Lead: 0.3 of its value')
      reference ??= got
      assert.deepEqual(got, reference, 'same ids and values whatever the order')
      assert.deepEqual(h.timers(), [])
      await h.store.close()
    }
  })

  test('an early hang-up cancels the timer and yields no qualified_call', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0, sequence: 1 }))
    assert.equal(h.timers().length, 1)
    await h.send(call({ status: 'completed', at: T0 + 40, sequence: 2, duration_s: 40 }))
    assert.deepEqual(h.timers(), [], 'timer cancelled')
    assert.equal(await h.fire(T0 + 1000), 0)
    assert.deepEqual(names(h), ['call_connected'])
  })

  test('a live crossing later contradicted by a short duration is retracted', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0, sequence: 1 }))
    await h.fire(T0 + 181)
    // the completed callback was delayed: the caller had hung up at 30 s
    await h.send(call({ status: 'completed', at: T0 + 30, sequence: 2, duration_s: 30 }), T0 + 200)
    const [c] = h.named('correction')
    assert.equal(c.attrs.corrects, h.named('qualified_call')[0].id)
    assert.equal(c.attrs.adjustment, 'retract')
    assert.equal(c.attrs.reason, 'duration_below_floor')
  })

  test('a floor that moves when the campaign becomes known re-arms the timer', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0, campaign: undefined, tracking_number: undefined }))
    assert.equal(h.timers()[0].due_at, (T0 + 120) * 1000, 'default floor')
    await h.send(call({ status: 'ringing', at: T0 - 3 }))
    assert.equal(h.timers()[0].due_at, (T0 + 180) * 1000, 'mortgage floor once the campaign is known')
    await h.fire(T0 + 130)
    assert.deepEqual(names(h), ['call_connected'])
    await h.fire(T0 + 181)
    assert.deepEqual(names(h), ['call_connected', 'qualified_call'])
  })
})

describe('dispositions (shipped defaults)', () => {
  test('Sale: converted, full value', async () => {
    const h = await harness()
    await h.send(disposition('sale', T0, 420))
    const [s] = h.named('disposition:Sale')
    assert.equal(s.value, 420)
    assert.equal(s.attrs.reported, 'sale')
  })

  test('Qualified Lead: 0.3 of revenue, or of the campaign value', async () => {
    const h = await harness({ campaigns: { 'mortgage-*': { preset: 'mortgage', value: 1000 } } })
    await h.send(disposition('Qualified Lead', T0))
    assert.equal(h.named('disposition:Qualified Lead')[0].value, 300)
    await h.send(call({ call_id: 'CA2', disposition: 'Qualified Lead', revenue: 80, at: T0 }))
    assert.equal(h.named('disposition:Qualified Lead')[1].value, 24)
  })

  test('Appointment Set: micro-conversion worth 25', async () => {
    const h = await harness()
    await h.send(disposition('Appointment Set', T0))
    const [s] = h.named('disposition:Appointment Set')
    assert.equal(s.value, 25)
    assert.equal(s.event.event_type, 'schedule')
  })

  test('No Answer: no conversion, a follow_up', async () => {
    const h = await harness()
    await h.send(disposition('No Answer', T0))
    assert.deepEqual(names(h), ['follow_up'])
    assert.equal(h.named('follow_up')[0].value, undefined)
  })

  test('Existing Customer: service, held back, and retracts what the call already sent', async () => {
    const h = await harness()
    const hb = await h.send(disposition('Existing Customer', T0))
    assert.deepEqual(names(h), [])
    assert.deepEqual(hb, [['service']], 'a service postback is counted even on a call that never connected')
    await h.send(call({ call_id: 'CA2', status: 'answered', at: T0 }))
    const hb2 = await h.send(disposition('Existing Customer', T0 + 60, undefined, 'CA2'))
    assert.deepEqual(hb2, [['service']])
    const [c] = h.named('correction')
    assert.equal(c.attrs.corrects, h.named('call_connected')[0].id)
    assert.equal(c.attrs.reason, 'service')
    const j = h.journey('call:acme:CA2')!
    assert.deepEqual(j.withheld.call_connected, ['service'])
  })

  test('an unknown disposition records but sends nothing', async () => {
    const h = await harness()
    await h.send(disposition('Left Voicemail', T0))
    assert.deepEqual(names(h), [])
    assert.equal(h.journey('call:acme:CA1')!.dispositions[0].reported, 'Left Voicemail')
  })
})

describe('corrections', () => {
  test('the same amount in another currency is restated, saying which currency it replaced', async () => {
    const h = await harness()
    await h.send(disposition('Sale', T0, 100, 'CA1', { currency_code: 'USD' }))
    await h.send(disposition('Sale', T0 + 60, 100, 'CA1', { currency_code: 'EUR' }))
    const [restate] = h.named('correction')
    assert.ok(restate, 'a restatement')
    assert.deepEqual(
      [restate.value, restate.currency, restate.attrs.previous_value, restate.attrs.previous_currency],
      [100, 'EUR', 100, 'USD'],
    )
  })

  test('Sale restated on a changed value, then retracted when Cancelled', async () => {
    const h = await harness()
    await h.send(disposition('Sale', T0, 500))
    await h.send(disposition('Sale', T0 + 60, 650))
    await h.send(disposition('Cancelled', T0 + DAY))
    const sale = h.named('disposition:Sale')[0]
    const [restate, retract] = h.named('correction')
    assert.deepEqual(
      { ...restate.attrs, call_id: undefined },
      {
        call_id: undefined,
        corrects: sale.id,
        corrects_name: 'disposition:Sale',
        corrects_occurred_at: T0,
        adjustment: 'restate',
        previous_value: 500,
        previous_currency: 'USD',
        reason: 'value_changed',
      },
    )
    assert.equal(restate.value, 650)
    assert.equal(retract.attrs.adjustment, 'retract')
    assert.equal(retract.attrs.previous_value, 650)
    assert.equal(retract.attrs.reason, 'disposition_changed:Cancelled')
    assert.notEqual(restate.id, retract.id)
    // a repeat of the cancellation changes nothing
    await h.send(disposition('Cancelled', T0 + DAY + 30))
    assert.equal(h.named('correction').length, 2)
  })

  test('Sale re-dispositioned to Qualified Lead: retract the sale, send the lead', async () => {
    const h = await harness()
    await h.send(disposition('Sale', T0, 1000))
    await h.send(disposition('Qualified Lead', T0 + 600, 1000))
    assert.deepEqual(names(h), ['disposition:Sale', 'disposition:Qualified Lead', 'correction'])
    assert.equal(h.named('disposition:Qualified Lead')[0].value, 300)
    assert.equal(h.named('correction')[0].attrs.adjustment, 'retract')
    // and back to Sale: a new generation of the sale signal (a new id), the lead retracted
    await h.send(disposition('Sale', T0 + 1200, 1000))
    const sales = h.named('disposition:Sale')
    assert.equal(sales.length, 2)
    assert.notEqual(sales[0].id, sales[1].id)
  })

  test('a stale disposition arriving late does not override a newer one', async () => {
    const h = await harness()
    await h.send(disposition('Qualified Lead', T0 + 600, 1000))
    await h.send(disposition('Sale', T0, 1000))
    assert.deepEqual(names(h), ['disposition:Qualified Lead'])
  })

  test('CRM revenue restated, then refunded', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0 }, { properties: { transaction_id: 'POL-9' } }))
    const crm = (event_type: EcapiEvent['event_type'], at: number, value?: number): EcapiEvent => ({
      data_set_id: 'acme',
      timestamp: at,
      event_type,
      ...(value !== undefined ? { value } : {}),
      properties: { transaction_id: 'POL-9' },
    })
    await h.send(crm('purchase', T0 + DAY, 1200))
    await h.send(crm('purchase', T0 + 2 * DAY, 1500))
    await h.send(crm('refund', T0 + 9 * DAY))
    const [closed] = h.named('closed_outcome')
    assert.equal(closed.value, 1200)
    assert.equal(closed.attrs.linked_by, 'order')
    const [restate, retract] = h.named('correction')
    assert.equal(restate.attrs.adjustment, 'restate')
    assert.equal(restate.attrs.previous_value, 1200)
    assert.equal(restate.value, 1500)
    assert.equal(retract.attrs.adjustment, 'retract')
    assert.equal(retract.attrs.reason, 'outcome_reversed')
    assert.equal(retract.attrs.corrects, closed.id)
  })
})

describe('signal quality', () => {
  test('a repeat caller within the window is recorded but not a conversion', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0 }))
    const hb = await h.send(call({ call_id: 'CA2', status: 'answered', at: T0 + DAY }), T0 + DAY)
    await h.send(
      call({ call_id: 'CA2', status: 'completed', at: T0 + DAY + 400, duration_s: 400 }),
      T0 + DAY + 400,
    )
    await h.send(disposition('Sale', T0 + DAY + 500, 900, 'CA2'), T0 + DAY + 500)
    assert.deepEqual(hb, [['repeat_caller']])
    assert.deepEqual(names(h), ['call_connected'])
    const j = h.journey('call:acme:CA2')!
    assert.deepEqual(j.flags, ['repeat_caller'])
    assert.deepEqual((j.notes.repeat_caller as { repeat_of: string }).repeat_of, 'CA1')
    assert.deepEqual(Object.keys(j.withheld).sort(), ['call_connected', 'disposition:Sale', 'qualified_call'])
    // past the 30-day window the caller is new again
    await h.send(call({ call_id: 'CA3', status: 'answered', at: T0 + 31 * DAY }), T0 + 31 * DAY)
    assert.equal(h.named('call_connected').length, 2)
  })

  test('the same caller phoning another data set is no repeat caller there', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0 }))
    const hb = await h.send(
      call({ call_id: 'CA-G', status: 'answered', at: T0 + DAY }, { data_set_id: 'globex' }),
      T0 + DAY,
    )
    assert.deepEqual(hb, [[]])
    assert.equal(h.named('call_connected').length, 2)
  })

  test('a caller remembered under the key before data sets scoped it is still a repeat caller', async () => {
    const h = await harness()
    const legacy = legacyRepeatFactKey('mortgage-ny', CALLER)
    await h.putFacts({ [legacy]: { value: { call_id: 'CA0', at: T0 * 1000 }, ttlMs: 30 * DAY * 1000 } }, T0)
    const hb = await h.send(call({ call_id: 'CA5', status: 'answered', at: T0 + DAY }), T0 + DAY)
    assert.deepEqual(hb, [['repeat_caller']])
  })

  test('a call is joined to its DNI visitor once: a later event does not take the next holder’s clicks', async () => {
    const h = await harness()
    const holds = (visitor: string, click_ids: Record<string, string>, at: number) =>
      h.putFacts(
        {
          [dniKey('+18005550100')]: {
            value: { touch: { visitor_id: visitor, clicked_at: at * 1000, click_ids } },
            ttlMs: DAY * 1000,
          },
        },
        at,
      )
    const noClicks = (c: Partial<CallExtension> & { at: number }) => {
      const e = call(c)
      return { ...e, ext: { call: e.ext?.call } } as EcapiEvent
    }
    await holds('A', { gclid: 'GCLID-A' }, T0 - 60)
    await h.send(noClicks({ call_id: 'CA-D', status: 'answered', at: T0 }))
    // the number has gone to another visitor when the call's next event arrives
    await holds('B', { fbclid: 'FBCLID-B' }, T0 + 100)
    await h.send(noClicks({ call_id: 'CA-D', status: 'completed', at: T0 + 200, duration_s: 200 }))
    const j = h.journey('call:acme:CA-D')!
    assert.deepEqual(
      [j.clickIds.gclid, j.clickIds.fbclid, j.clickIds.attribution],
      ['GCLID-A', undefined, 'dni'],
    )
  })

  test('a missed call does not make the callback a repeat', async () => {
    const h = await harness()
    await h.send(call({ status: 'no_answer', at: T0 }))
    await h.send(call({ call_id: 'CA2', status: 'answered', at: T0 + 600 }), T0 + 600)
    assert.deepEqual(names(h), ['call_connected'])
  })

  test('failed STIR/SHAKEN attestation holds the call back', async () => {
    const h = await harness()
    const hb = await h.send(call({ status: 'answered', at: T0, attestation: 'TN-Validation-Failed-B' }))
    await h.send(call({ status: 'completed', at: T0 + 300, duration_s: 300 }))
    assert.deepEqual(hb, [['spam:attestation']])
    assert.deepEqual(names(h), [])
    // attestation C passes by default and is held when configured
    await h.send(
      call({
        call_id: 'CA2',
        caller: '+13125550000',
        status: 'answered',
        at: T0,
        attestation: 'TN-Validation-Passed-C',
      }),
    )
    assert.equal(h.named('call_connected').length, 1)
    const strict = await harness({ ...BASE_RULES, calls: { spam: { hold_attestation_c: true } } })
    await strict.send(call({ status: 'answered', at: T0, attestation: 'TN-Validation-Passed-C' }))
    assert.deepEqual(names(strict), [])
  })

  test('spam found after a conversion was sent retracts it', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0 }))
    await h.send(call({ status: 'ringing', at: T0 - 5, attestation: 'No-TN-Validation' }))
    const [c] = h.named('correction')
    assert.equal(c.attrs.adjustment, 'retract')
    assert.equal(c.attrs.reason, 'spam:attestation')
  })

  test('blocklist: exact numbers and prefixes', async () => {
    const h = await harness({ ...BASE_RULES, calls: { spam: { blocklist: ['+1900*', '+13125550001'] } } })
    const a = await h.send(call({ call_id: 'A', caller: '+19005551234', status: 'answered', at: T0 }))
    const b = await h.send(call({ call_id: 'B', caller: '+13125550001', status: 'answered', at: T0 }))
    await h.send(call({ call_id: 'C', caller: '+13125550002', status: 'answered', at: T0 }))
    assert.deepEqual([a, b], [[['spam:blocklist']], [['spam:blocklist']]])
    assert.deepEqual(
      h.signals().map((s) => s.attrs.call_id),
      ['C'],
    )
  })

  test('suspicious pattern: calls from one prefix ending just past the floor', async () => {
    const h = await harness({ campaigns: { default: { qualified_after_s: 60, repeat_caller_days: 0 } } })
    const held: string[][][] = []
    for (const [i, caller] of ['+12125551001', '+12125551002', '+12125551003'].entries()) {
      const id = `P${i}`
      const at = T0 + i * 3600
      await h.send(call({ call_id: id, caller, campaign: 'x', status: 'answered', at }), at)
      held.push(
        await h.send(
          call({ call_id: id, caller, campaign: 'x', status: 'completed', at: at + 65, duration_s: 65 }),
          at + 65,
        ),
      )
    }
    assert.deepEqual(held, [[[]], [[]], [['spam:pattern']]])
    // the third call's connect had been sent: it is retracted, and it never qualifies
    const third = h.signals().filter((s) => s.attrs.call_id === 'P2' || s.attrs.corrects !== undefined)
    assert.deepEqual(
      third.map((s) => s.name),
      ['call_connected', 'correction'],
    )
    // a long conversation from the same prefix is not part of the pattern
    await h.send(
      call({
        call_id: 'P9',
        caller: '+12125551009',
        campaign: 'x',
        status: 'completed',
        at: T0 + 9000,
        duration_s: 600,
      }),
    )
    assert.equal(h.signals().filter((s) => s.attrs.call_id === 'P9').length, 2)
  })

  test('day-parting: hours hold back calls outside them; dayparts change the floor', async () => {
    const h = await harness({
      campaigns: {
        default: {
          qualified_after_s: 120,
          repeat_caller_days: 0,
          timezone: 'America/New_York',
          hours: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '20:00' },
          dayparts: [{ from: '17:00', to: '20:00', qualified_after_s: 240 }],
        },
      },
    })
    const sat = T0 + 4 * DAY // Saturday 10 May, 15:07 New York
    const hb = await h.send(call({ call_id: 'S', campaign: 'c', status: 'answered', at: sat }), sat)
    assert.deepEqual(hb, [['outside_hours']])
    await h.send(call({ call_id: 'W', campaign: 'c', status: 'answered', at: T0 }))
    assert.equal(h.timers().find((t) => t.key === 'qualify:call:acme:W')?.due_at, (T0 + 120) * 1000)
    const evening = T0 + 3 * 3600 // 18:07 New York
    await h.send(call({ call_id: 'E', campaign: 'c', status: 'answered', at: evening }), evening)
    assert.equal(h.timers().find((t) => t.key === 'qualify:call:acme:E')?.due_at, (evening + 240) * 1000)
    assert.equal(h.named('call_connected')[1].attrs.daypart, 0)
    assert.deepEqual(
      h.signals().map((s) => s.attrs.call_id),
      ['W', 'E'],
    )
  })
})

describe('data sets', () => {
  const crmSale = (dataSetId: string, at: number): EcapiEvent => ({
    data_set_id: dataSetId,
    timestamp: at,
    event_type: 'close_convert_lead',
    value: 1800,
    currency_code: 'USD',
    properties: { transaction_id: `LOAN-${dataSetId}` },
    user_data: { phone_numbers: [CALLER] },
  })

  test('two data sets sending the same call id get a journey each, and both convert', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0 }))
    await h.send(call({ status: 'answered', at: T0 + 1, caller: '+13125550000' }, { data_set_id: 'globex' }))
    const connected = h.named('call_connected')
    assert.deepEqual(
      connected.map((s) => s.dataSetId),
      ['acme', 'globex'],
    )
    assert.notEqual(connected[0].id, connected[1].id)
    assert.equal(h.journey('call:acme:CA1')?.dataSetId, 'acme')
    assert.equal(h.journey('call:globex:CA1')?.caller, '+13125550000')
    // each call's floor is its own: globex's answer did not re-arm acme's timer
    assert.deepEqual(
      h.timers().map((t) => t.key),
      ['qualify:call:acme:CA1', 'qualify:call:globex:CA1'],
    )
  })

  test("a CRM outcome finds a call by the caller's phone only in its own data set", async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0 }))
    await h.send(call({ status: 'completed', at: T0 + 300, duration_s: 300 }))
    await h.send(crmSale('globex', T0 + DAY))
    await h.send(crmSale('acme', T0 + DAY + 1))
    const closed = h.named('closed_outcome')
    assert.deepEqual(
      closed.map((s) => [s.dataSetId, s.attrs.linked_by, s.event.ext?.call?.call_id]),
      [
        ['globex', 'none', 'LOAN-globex'],
        ['acme', 'phone', 'CA1'],
      ],
    )
  })

  test('a call an earlier version started (unscoped names) keeps its journey, timer and signals', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0 }))
    // rewrite what the answer stored into the names an earlier version gave it
    const phone = h.journey('call:acme:CA1')!.aliases.find((a) => a.startsWith('phone:'))!
    const oldPhone = legacyNames.phone(CALLER)
    h.sql(
      `UPDATE journeys SET key = 'call:CA1', state = json_set(state, '$.key', 'call:CA1', '$.aliases', json_array(?))
       WHERE key = 'call:acme:CA1'`,
      oldPhone,
    )
    h.sql('DELETE FROM journey_aliases WHERE alias = ?', phone)
    h.sql(`INSERT INTO journey_aliases (alias, journey_key) VALUES (?, 'call:CA1')`, oldPhone)
    h.sql(`UPDATE timers SET key = 'qualify:CA1', payload = json_set(payload, '$.journey', 'call:CA1')`)

    await h.send(call({ status: 'completed', at: T0 + 300, duration_s: 300 }))
    assert.deepEqual(names(h), ['call_connected', 'qualified_call'], 'nothing sent twice')
    assert.equal(h.journey('call:acme:CA1'), undefined, 'no second journey')
    const j = h.journey('call:CA1')!
    assert.ok(j.aliases.includes('call:acme:CA1'), 'found by its scoped name from now on')
    assert.deepEqual(h.timers(), [], 'the completed call cancelled the timer armed under the old name')
    // a CRM outcome by phone finds it too
    await h.send(crmSale('acme', T0 + DAY))
    assert.equal(h.named('closed_outcome')[0]?.attrs.linked_by, 'phone')
  })

  test("an earlier version's journey of another data set is not joined", async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0 }, { data_set_id: 'globex' }))
    h.sql(
      `UPDATE journeys SET key = 'call:CA1', state = json_set(state, '$.key', 'call:CA1') WHERE key = 'call:globex:CA1'`,
    )
    await h.send(call({ status: 'answered', at: T0 + 1, caller: '+13125550000' }))
    assert.deepEqual(
      h.named('call_connected').map((s) => s.dataSetId),
      ['globex', 'acme'],
    )
    assert.equal(h.journey('call:acme:CA1')?.caller, '+13125550000')
  })

  test('CRM outcomes with no order, id or phone: two sales stay two, the same one sent again is one', async () => {
    const h = await harness()
    const sale = (email: string, value: number): EcapiEvent => ({
      data_set_id: 'acme',
      timestamp: T0,
      event_type: 'purchase',
      source: 'phone_call',
      value,
      currency_code: 'USD',
      user_data: { email_address: email },
    })
    await h.send([sale('a@example.com', 900), sale('b@example.com', 1800)])
    await h.send(sale('a@example.com', 900))
    assert.deepEqual(
      h.named('closed_outcome').map((s) => s.value),
      [900, 1800],
    )
  })

  test('calls.write_legacy_names: a node of an earlier build finds the calls this build starts', async () => {
    const oldLookups = {
      key: 'call:CA1',
      aliases: ['call:CA1'],
      phone: { aliases: [legacyNames.phone(CALLER)] },
    }
    for (const write of [false, true]) {
      const h = await harness({ ...BASE_RULES, calls: { write_legacy_names: write } })
      await h.send(call({ status: 'answered', at: T0 }))
      const found: Array<string | undefined> = []
      // what an earlier build's item asks the store for: unscoped names only
      for (const journey of [{ key: oldLookups.key, aliases: oldLookups.aliases }, oldLookups.phone])
        await h.store.ingest(
          {
            raw: { id: `raw_${++rawN}`, source: 'old', kind: 'call', receivedAt: 0, headers: {}, body: '' },
            items: [
              {
                event: call({ status: 'completed', at: T0 + 60 }),
                journey,
                derive: (ctx) => {
                  found.push(ctx.journey?.key)
                  return { signals: [] }
                },
              },
            ],
          },
          (T0 + 61) * 1000,
        )
      assert.deepEqual(found, write ? ['call:acme:CA1', 'call:acme:CA1'] : [undefined, undefined])
    }
    // a form's phone is written under both lead keys
    const touch = { visitor_id: 'v1', clicked_at: T0 * 1000, click_ids: { gclid: 'FORM-G' } }
    const form: EcapiEvent = {
      data_set_id: 'acme',
      timestamp: T0,
      event_type: 'submit_application',
      user_data: { phone_numbers: [CALLER] },
      ext: { visitor_id: 'v1' } as EcapiEvent['ext'],
    }
    const facts = (writeLegacyNames: boolean) =>
      Object.keys(
        ecapiItem(form, { ...pipeline, writeLegacyNames }).derive({
          eventId: 'evt_1',
          rawId: 'raw_1',
          now: T0 * 1000,
          facts: { [visitorKey('acme', 'v1')]: { first: touch, last: touch } },
        }).facts ?? {},
      )
    assert.deepEqual(facts(false), [leadKey('acme', CALLER)])
    assert.deepEqual(facts(true), [leadKey('acme', CALLER), legacyLeadKey(CALLER)])
  })

  test("a form's phone joins calls to its own data set; an earlier version's lead is still read", async () => {
    const h = await harness()
    const touch = { visitor_id: 'v1', clicked_at: (T0 - 60) * 1000, click_ids: { gclid: 'FORM-G' } }
    const noClicks = (c: Partial<CallExtension> & { at: number }, extra: Partial<EcapiEvent> = {}) => {
      const e = call({ tracking_number: '+18005550199', ...c }, extra)
      return { ...e, ext: { call: e.ext?.call } } as EcapiEvent
    }
    // a lead fact another build wrote before the upgrade: unscoped, read by any data set
    await h.putFacts({ [legacyLeadKey(CALLER)]: { value: { touch }, ttlMs: DAY * 1000 } }, T0 - 60)
    await h.send(noClicks({ call_id: 'CA-L', status: 'answered', at: T0 }))
    assert.equal(h.journey('call:acme:CA-L')?.clickIds.attribution, 'phone')
    // another business's form with this caller's phone says nothing about a call to acme
    const other = '+13125550000'
    await h.putFacts({ [leadKey('globex', other)]: { value: { touch }, ttlMs: DAY * 1000 } }, T0)
    await h.send(noClicks({ call_id: 'CA-M', caller: other, status: 'answered', at: T0 + 10 }))
    assert.equal(h.journey('call:acme:CA-M')?.clickIds.attribution, 'none')
    await h.send(
      noClicks(
        { call_id: 'CA-M', caller: other, status: 'answered', at: T0 + 20 },
        { data_set_id: 'globex' },
      ),
    )
    assert.equal(h.journey('call:globex:CA-M')?.clickIds.gclid, 'FORM-G')
  })
})

describe('journeys', () => {
  test('a transfer leg joins its parent: one connect, qualified on the buyer leg', async () => {
    const h = await harness()
    await h.send(call({ status: 'answered', at: T0 }))
    await h.send(
      call({ call_id: 'CA1-leg', parent_call_id: 'CA1', caller: undefined, status: 'answered', at: T0 + 30 }),
    )
    await h.send(
      call({ call_id: 'CA1-leg', parent_call_id: 'CA1', status: 'completed', at: T0 + 400, duration_s: 370 }),
    )
    assert.deepEqual(
      names(h),
      ['call_connected', 'qualified_call'],
      'no second connect, qualified while the parent is live',
    )
    assert.equal(h.named('qualified_call')[0].attrs.duration_s, 370)
    // a disposition posted against the leg's own id finds the journey through the leg alias
    await h.send(disposition('Sale', T0 + 500, 700, 'CA1-leg'))
    assert.equal(h.named('disposition:Sale')[0].attrs.call_id, 'CA1')
    const j = h.journey('call:acme:CA1')!
    assert.deepEqual(Object.keys(j.legs).sort(), ['CA1', 'CA1-leg'])
    assert.equal(h.journey('call:acme:CA1-leg'), undefined)
  })

  test('CRM outcome by call id, and one past the phone link window stands alone', async () => {
    const h = await harness()
    await h.send(call({ status: 'completed', at: T0, duration_s: 200 }))
    await h.send(
      {
        data_set_id: 'acme',
        timestamp: T0 + DAY,
        event_type: 'purchase',
        value: 99,
        ext: { call: { call_id: 'CA1' } },
      },
      T0 + DAY,
    )
    assert.equal(h.named('closed_outcome')[0].attrs.linked_by, 'call_id')
    await h.send(
      {
        data_set_id: 'acme',
        timestamp: T0 + 120 * DAY,
        event_type: 'close_convert_lead',
        value: 50,
        user_data: { phone_numbers: CALLER },
        properties: { transaction_id: 'LATE-1' },
      },
      T0 + 120 * DAY,
    )
    const late = h.named('closed_outcome')[1]
    assert.equal(late.attrs.linked_by, 'none')
    assert.equal(late.event.ext?.click_ids?.gclid, undefined)
  })

  test('the newest call from a caller owns the phone alias', async () => {
    const h = await harness({ ...BASE_RULES, calls: { repeat_caller_days: 0 } })
    await h.send(call({ status: 'completed', at: T0, duration_s: 200 }))
    await h.send(call({ call_id: 'CA2', status: 'completed', at: T0 + DAY, duration_s: 200 }), T0 + DAY)
    await h.send(
      {
        data_set_id: 'acme',
        timestamp: T0 + 2 * DAY,
        event_type: 'purchase',
        value: 10,
        user_data: { phone_numbers: CALLER },
      },
      T0 + 2 * DAY,
    )
    assert.equal(h.named('closed_outcome')[0].attrs.call_id, 'CA2')
  })
})
