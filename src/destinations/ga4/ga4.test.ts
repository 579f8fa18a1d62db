/**
 * The ga4 destination: the pure builder (mapping, client id, Google hashing, consent, limits) and end to end
 * over real sockets against the local Measurement Protocol mock, which like GA4 answers 204 to everything
 * on the live endpoint and tells only through the validation server.
 */
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { sha256Hex } from '../../identity/hash.ts'
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { ClickIdentity } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import { createHttpClient, type HttpClient } from '../http.ts'
import { type SignalOverrides, testContext, testJob, testSignal } from '../testing/signals.ts'
import { type Ga4Config, ga4Destination } from './index.ts'
import { type MockGa4, startMockGa4 } from './mock-server.ts'
import {
  buildGa4Hit,
  clientIdFromCookie,
  ga4ClientId,
  groupRequests,
  matchKeysOf,
  resolveEventName,
  validEventName,
} from './payload.ts'

const MID = 'G-TEST123'
const SECRET = 'mp-secret-abcdef'
const nowS = () => Math.floor(Date.now() / 1000)

function signal(o: SignalOverrides = {}): Signal {
  const t = nowS() - 60
  const base: EcapiEvent = {
    data_set_id: 'acme',
    id: 'evt-1',
    timestamp: t,
    event_type: 'contact',
    user_data: {
      email_address: 'Jane.Doe@Gmail.com',
      customer_identifier: 'cust-1',
      address: {
        first_name: 'Jane',
        last_name: 'Doe',
        city: 'New York',
        state: 'NY',
        country_code: 'US',
        postal_code: '10001',
      },
    },
    ext: { call: { call_id: 'CA1', caller: '(212) 555-0000', started_at: t - 30, campaign: 'mortgage-ny' } },
  }
  return testSignal(base, o)
}

const job = (s: Signal) => testJob(s, 'ga4')

describe('ga4 payload', () => {
  test('default mapping onto GA4’s lead funnel; config map, globs and "" win', () => {
    const name = (n: string, map?: Record<string, string>) => resolveEventName(signal({ name: n }), map)
    assert.equal(name('call_connected'), 'generate_lead')
    assert.equal(name('qualified_call'), 'qualify_lead')
    assert.equal(name('disposition:Sale'), 'close_convert_lead')
    assert.equal(name('disposition:Qualified Lead'), 'qualify_lead')
    assert.equal(name('disposition:Appointment Set'), 'working_lead')
    assert.equal(name('closed_outcome'), 'close_convert_lead')
    assert.equal(name('closed_outcome', { closed_outcome: 'purchase' }), 'purchase')
    assert.equal(name('disposition:Callback', { 'disposition:*': 'working_lead' }), 'working_lead')
    assert.equal(name('qualified_call', { qualified_call: '' }), undefined)
    assert.equal(name('follow_up'), undefined)
    assert.equal(
      resolveEventName(signal({ name: 'viewed_item', event: { event_type: 'viewed_item' } })),
      'view_item',
    )
    assert.ok(!validEventName('first_visit'))
    assert.ok(!validEventName('google_thing'))
    assert.ok(!validEventName('1abc'))
  })

  test('client_id: _ga cookie, visitor id, else a stable GA-shaped hash of the call', () => {
    assert.equal(clientIdFromCookie('GA1.1.123456789.1700000000'), '123456789.1700000000')
    const withCookie = signal({
      event: { ext: { click_ids: { ga: 'GA1.1.42.1700000000' } as ClickIdentity } },
    })
    assert.equal(ga4ClientId(withCookie), '42.1700000000')
    const withVisitor = signal({ event: { ext: { click_ids: { visitor_id: 'v-77' } as ClickIdentity } } })
    assert.equal(ga4ClientId(withVisitor), 'v-77')
    const a = ga4ClientId(signal({ name: 'call_connected' }))
    const b = ga4ClientId(signal({ id: 'sig-2', name: 'disposition:Sale' }))
    assert.match(a, /^\d+\.\d+$/)
    assert.equal(a, b, 'every signal of one call is one GA4 user')
  })

  test('consented: Google-normalized user_data (gmail dots dropped, + kept), consent, params', () => {
    const built = buildGa4Hit(signal({ name: 'disposition:Sale', value: 120, currency: 'usd' }), {
      nowMs: Date.now(),
      sendUserId: true,
    })
    assert.ok(built.ok)
    const { identity, event } = built.hit
    assert.equal(identity.user_id, 'cust-1')
    assert.deepEqual(identity.user_data, {
      sha256_email_address: [sha256Hex('janedoe@gmail.com')],
      sha256_phone_number: [sha256Hex('+12125550000')],
      address: [
        {
          sha256_first_name: sha256Hex('jane'),
          sha256_last_name: sha256Hex('doe'),
          city: 'new york',
          region: 'ny',
          postal_code: '10001',
          country: 'US',
        },
      ],
    })
    assert.deepEqual(identity.consent, { ad_user_data: 'GRANTED', ad_personalization: 'GRANTED' })
    assert.deepEqual(event, {
      name: 'close_convert_lead',
      params: {
        value: 120,
        currency: 'USD',
        transaction_id: 'sig-1',
        lead_source: 'phone_call',
        call_campaign: 'mortgage-ny',
        engagement_time_msec: 1,
      },
    })
  })

  test('at most 3 emails, 3 phones and 2 addresses, as GA4 accepts', () => {
    const many = (k: string) => Array.from({ length: 4 }, (_, i) => `${k}${i}`)
    const built = buildGa4Hit(
      signal({
        event: {
          user_data: {
            customer_identifier: 'cust-1',
            email_address: many('a@b.co').map((e, i) => `${i}${e}`),
            phone_numbers: ['+12125550001', '+12125550002', '+12125550003', '+12125550004'],
            address: many('Town').map((city) => ({ city, country_code: 'US' })),
          },
        },
      }),
      { nowMs: Date.now(), sendUserId: true },
    )
    assert.ok(built.ok)
    const ud = built.hit.identity.user_data
    assert.equal(ud?.sha256_email_address?.length, 3)
    assert.equal(ud?.sha256_phone_number?.length, 3)
    assert.deepEqual(
      ud?.address?.map((a) => a.city),
      ['town', 'town'],
    )
  })

  test('no PII consent: no user_data, no user_id; consent states as GA4 values', () => {
    const built = buildGa4Hit(
      signal({
        consent: { pii: false, adUserData: 'denied', adPersonalization: 'unspecified' },
        event: { user_data: { customer_identifier: 'cust-9', email_address: 'a@b.co' } },
      }),
      { nowMs: Date.now(), sendUserId: true },
    )
    assert.ok(built.ok)
    assert.equal(built.hit.identity.user_data, undefined)
    assert.equal(built.hit.identity.user_id, undefined)
    assert.deepEqual(built.hit.identity.consent, { ad_user_data: 'DENIED' })
  })

  test('match keys: consented PII reports the user_data fields, a captured client id and user_id', () => {
    const hit = (s: Signal, sendUserId = false) => {
      const b = buildGa4Hit(s, { nowMs: Date.now(), sendUserId })
      assert.ok(b.ok)
      return b.hit
    }
    const { ext, user_data } = signal().event
    const full = signal({
      event: {
        ext: { ...ext, click_ids: { ga: 'GA1.1.42.1700000000' } as ClickIdentity },
        user_data: { ...user_data, customer_identifier: 'c-9' },
      },
    })
    assert.deepEqual(matchKeysOf(hit(full, true)), [
      'address',
      'client_id',
      'sha256_email_address',
      'sha256_phone_number',
      'user_id',
    ])
    // the client id derived from the call matches no GA4 user: not a match key
    assert.deepEqual(matchKeysOf(hit(signal(), true)), [
      'address',
      'sha256_email_address',
      'sha256_phone_number',
      'user_id',
    ])
    // no user_id (send_user_id off): GA4 ignores user_data without one, so none is sent or counted
    assert.deepEqual(matchKeysOf(hit(signal())), [])
    assert.equal(hit(signal()).identity.user_data, undefined)
  })

  test('match keys: without PII consent only the captured client id; nothing matchable → []', () => {
    const denied = { pii: false } as const
    const clicked = signal({
      consent: denied,
      event: { ext: { click_ids: { ga: 'GA1.1.42.1700000000' } as ClickIdentity } },
    })
    const a = buildGa4Hit(clicked, { nowMs: Date.now(), sendUserId: true })
    assert.ok(a.ok)
    assert.deepEqual(matchKeysOf(a.hit), ['client_id'])
    const b = buildGa4Hit(signal({ consent: denied }), { nowMs: Date.now() })
    assert.ok(b.ok)
    assert.equal(b.hit.clientIdCaptured, false)
    assert.deepEqual(matchKeysOf(b.hit), [])
  })

  test('permanent before sending: derived over 72 h ago, value without currency, reserved name', () => {
    // a sale closed 5 days ago, reported now: dated when closeloop derived it, so GA4 still takes it
    const derivedAt = Date.now() - 1_000
    const late = buildGa4Hit(signal({ occurredAt: nowS() - 120 * 3600, createdAt: derivedAt }), {
      nowMs: Date.now(),
    })
    assert.ok(late.ok)
    assert.equal(late.hit.timestampMicros, Math.floor(derivedAt / 1000) * 1_000_000)
    // derived over 72 h ago too (a retry days later): GA4 cannot take it any more
    const old = buildGa4Hit(
      signal({ occurredAt: nowS() - 80 * 3600, createdAt: (nowS() - 73 * 3600) * 1000 }),
      { nowMs: Date.now() },
    )
    assert.ok(!old.ok && old.code === 'GA4_EVENT_TOO_OLD')
    // ad_impression may be sent since 2023; the subscription names are GA4's own
    assert.ok(validEventName('ad_impression'))
    assert.ok(!validEventName('app_store_subscription_renew'))
    const noCur = buildGa4Hit(signal({ value: 5 }), { nowMs: Date.now() })
    assert.ok(!noCur.ok && noCur.code === 'GA4_CURRENCY_MISSING')
    const reserved = buildGa4Hit(signal(), { nowMs: Date.now(), events: { call_connected: 'session_start' } })
    assert.ok(!reserved.ok && reserved.code === 'GA4_EVENT_NAME_INVALID')
  })

  test('requests: same identity and time share a request of ≤ 25 events; others do not', () => {
    const hits = Array.from({ length: 30 }, (_, i) => {
      const b = buildGa4Hit(signal({ id: `s${i}`, occurredAt: 1_800_000_000 }), { nowMs: 1_800_000_000_000 })
      assert.ok(b.ok)
      return { index: i, hit: b.hit }
    })
    const other = buildGa4Hit(
      signal({ id: 'x', event: { ext: { call: { call_id: 'CA9' } } }, occurredAt: 1_800_000_000 }),
      {
        nowMs: 1_800_000_000_000,
      },
    )
    assert.ok(other.ok)
    const reqs = groupRequests([...hits, { index: 30, hit: other.hit }])
    assert.deepEqual(
      reqs.map((r) => r.body.events.length),
      [25, 5, 1],
    )
    assert.equal(reqs[0].body.timestamp_micros, 1_800_000_000_000_000)
  })
})

describe('ga4 against the Measurement Protocol mock', () => {
  let ga: MockGa4
  let http: HttpClient
  const ctx = (testMode = false) => testContext(http, testMode)
  const destination = (extra: Partial<Ga4Config> & { batch_size?: number } = {}) =>
    ga4Destination.create('ga4', {
      type: 'ga4',
      measurement_id: MID,
      api_secret: SECRET,
      base_url: ga.url,
      allow_private: true,
      ...extra,
    })

  before(async () => {
    ga = await startMockGa4({ streams: { [MID]: SECRET } })
    http = createHttpClient({ allowPrivate: true })
  })
  after(async () => {
    await http.close()
    await ga.close()
  })
  beforeEach(() => {
    ga.requests.length = 0
    ga.accepted.length = 0
    ga.dropped.length = 0
  })

  test('success: 204, query params, event accepted by GA4’s rules, secret redacted', async () => {
    const out = await destination().send(
      [job(signal({ name: 'qualified_call', value: 40, currency: 'USD' }))],
      ctx(),
    )
    assert.equal(out[0].kind, 'delivered')
    assert.equal(out[0].code, 'HTTP_204')
    assert.equal(ga.requests[0].path, '/mp/collect')
    assert.deepEqual(ga.requests[0].query, { measurement_id: MID, api_secret: SECRET })
    assert.equal(ga.dropped.length, 0, JSON.stringify(ga.dropped))
    assert.equal(ga.accepted.length, 1)
    assert.equal(ga.accepted[0].event.name, 'qualify_lead')
    assert.ok(!JSON.stringify(out[0].exchange).includes(SECRET))
    assert.match(out[0].exchange!.url, /api_secret=\[redacted\]/)
  })

  test('a batch of one caller’s signals goes in one request; outcomes in order', async () => {
    const t = nowS() - 30
    const batch = [
      signal({ id: 'a', occurredAt: t }),
      signal({ id: 'b', name: 'follow_up' }),
      signal({ id: 'c', name: 'qualified_call', occurredAt: t }),
    ]
    const out = await destination().send(batch.map(job), ctx())
    assert.deepEqual(
      out.map((o) => o.kind),
      ['delivered', 'permanent', 'delivered'],
    )
    assert.equal(out[1].code, 'GA4_SIGNAL_NOT_MAPPED')
    assert.equal(ga.requests.length, 1)
    assert.equal(ga.accepted.length, 2)
  })

  test('consent: without PII consent no user_data reaches GA4', async () => {
    await destination().send([job(signal({ consent: { pii: false } }))], ctx())
    const body = ga.requests[0].body as Record<string, unknown>
    assert.equal(body.user_data, undefined)
    assert.ok(!JSON.stringify(body).includes(sha256Hex('janedoe@gmail.com')))
  })

  test('match keys: each outcome names what its request identity gave GA4', async () => {
    const t = nowS() - 30
    const batch = [
      signal({ id: 'full', occurredAt: t }),
      signal({
        id: 'nopii',
        consent: { pii: false },
        event: { ext: { click_ids: { ga_client_id: '77.1700000000' } as ClickIdentity } },
      }),
      signal({ id: 'unmapped', name: 'follow_up' }),
    ]
    const out = await destination({ send_user_id: true }).send(batch.map(job), ctx())
    assert.deepEqual(
      out.map((o) => [o.kind, o.matchKeys]),
      [
        ['delivered', ['address', 'sha256_email_address', 'sha256_phone_number', 'user_id']],
        ['delivered', ['client_id']],
        ['permanent', undefined],
      ],
    )
    assert.equal(ga.dropped.length, 0, JSON.stringify(ga.dropped))
    const bodies = ga.requests.map((r) => r.body as Record<string, unknown>)
    assert.deepEqual(
      bodies.map((b) => [b.client_id, Object.keys((b.user_data as object) ?? {}).sort()]),
      [
        [bodies[0].client_id, ['address', 'sha256_email_address', 'sha256_phone_number']],
        ['77.1700000000', []],
      ],
    )
  })

  test('test mode: the validation server; no messages → delivered, nothing recorded', async () => {
    const out = await destination().send([job(signal())], ctx(true))
    assert.equal(out[0].kind, 'delivered')
    assert.equal(out[0].code, 'GA4_VALID')
    assert.equal(ga.requests[0].path, '/debug/mp/collect')
    assert.equal(ga.accepted.length, 0)
  })

  test('test mode: validation messages are permanent with GA4’s words', async () => {
    const wrong = ga4Destination.create('ga4', {
      type: 'ga4',
      measurement_id: MID,
      api_secret: 'not-the-secret',
      base_url: ga.url,
      test_mode: true,
    })
    const out = await wrong.send([job(signal())], ctx())
    assert.equal(out[0].kind, 'permanent')
    assert.equal(out[0].code, 'GA4_VALUE_INVALID')
    assert.match(out[0].message ?? '', /api_secret: .*does not belong/)
  })

  test('the live endpoint hides a wrong secret: delivered, yet GA4 dropped it (why test mode exists)', async () => {
    const wrong = ga4Destination.create('ga4', {
      type: 'ga4',
      measurement_id: MID,
      api_secret: 'not-the-secret',
      base_url: ga.url,
    })
    const out = await wrong.send([job(signal())], ctx())
    assert.equal(out[0].kind, 'delivered')
    assert.equal(ga.accepted.length, 0)
    assert.equal(ga.dropped.length, 1)
  })

  test('throttling: 429 + Retry-After → throttled, later requests not sent', async () => {
    ga.inject({ kind: 'throttle', retryAfterS: 12 })
    const out = await destination().send(
      [job(signal()), job(signal({ id: 'other', event: { ext: { call: { call_id: 'CA2' } } } }))],
      ctx(),
    )
    assert.deepEqual(
      out.map((o) => o.kind),
      ['throttled', 'throttled'],
    )
    assert.equal(out[0].retryAfterMs, 12_000)
    assert.match(out[1].message ?? '', /^not sent/)
    assert.equal(ga.requests.length, 1)
  })

  test('5xx → retry; 403 → paused', async () => {
    ga.inject({ kind: 'server_error', status: 503 })
    const retry = await destination().send([job(signal())], ctx())
    assert.equal(retry[0].kind, 'retry')
    ga.inject({ kind: 'raw', status: 403, body: 'Forbidden' })
    const paused = await destination().send([job(signal())], ctx())
    assert.equal(paused[0].kind, 'paused')
  })
})
