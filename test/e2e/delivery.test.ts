/**
 * The durable spine end to end: the real server on an ephemeral port, real receivers on loopback, real
 * timers. Retry schedules are shortened through config; nothing is mocked.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { openPostgresStore } from '../../src/store/postgres/index.ts'
import { ecapiEvent, eventually, startApp, type TestApp } from '../helpers/app.ts'
import { createTestDatabase } from '../helpers/postgres.ts'
import { startReceiver } from '../helpers/receiver.ts'

type Trace = {
  signals: Array<{ id: string; name: string }>
  deliveries: Array<{
    id: string
    status: string
    attempts: number
    destination: string
    lastError?: string
    attemptLog: Array<{
      outcome: string
      code?: string
      message?: string
      exchange?: { url: string; status?: number; body?: string }
    }>
  }>
}

async function ingestOne(app: TestApp, over: Record<string, unknown> = {}) {
  const res = await app.post('/v1/events', ecapiEvent(over))
  assert.equal(res.status, 200, res.text)
  return (res.body as { event_id: string }).event_id
}

const trace = async (app: TestApp, id: string) => (await app.get(`/v1/events/${id}`)).body as Trace

function settled(app: TestApp, id: string, status: string, timeoutMs = 5000) {
  return eventually(
    async () => {
      const t = await trace(app, id)
      return t.deliveries.length > 0 && t.deliveries.every((d) => d.status === status) ? t : undefined
    },
    timeoutMs,
    `deliveries ${status}`,
  )
}

describe('postback delivery', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let app: TestApp
  before(async () => {
    receiver = await startReceiver()
    app = await startApp(`
delivery: { retry_schedule_s: [0.2, 0.2, 0.2], jitter: 0, sweep_interval_ms: 50, breaker: { failures: 100, cooldown_s: 1 } }
destinations:
  pb:
    type: postback
    url: "${receiver.url}/pb?cid={click_id}&caller={caller}&v={value}&cur={currency}&st={status}&eid={event_id}&camp={ext.call.campaign}"
    allow_private: true
    # long enough for a loaded CI machine, short enough for the hanging-receiver case
    timeout_ms: 1500
    status_map: { purchase: approved, closed_outcome: approved }
routes:
  - { signals: ["*"], to: [pb] }
`)
  })
  after(async () => {
    await app.close()
    await receiver.close()
  })

  test('success: macros are filled and URL-encoded (a + stays a +)', async () => {
    const id = await ingestOne(app, {
      ext: {
        call: { call_id: 'CA1', caller: '+12125550000', campaign: 'mortgage ny' },
        click_ids: { gclid: 'g/1 x' },
      },
    })
    const t = await settled(app, id, 'delivered')
    const hit = receiver.received.find((r) => r.url.includes(t.signals[0].id))
    assert.ok(hit)
    const q = new URL(hit.url, 'http://x').searchParams
    assert.equal(q.get('caller'), '+12125550000')
    assert.equal(q.get('cid'), 'g/1 x')
    assert.equal(q.get('v'), '120')
    assert.equal(q.get('cur'), 'USD')
    assert.equal(q.get('st'), 'approved')
    assert.equal(q.get('camp'), 'mortgage ny')
    assert.match(hit.url, /caller=%2B12125550000/)
    assert.equal(t.deliveries[0].attemptLog[0].outcome, 'delivered')
  })

  test('500 then success: retried on the schedule with the same idempotency key', async () => {
    receiver.script([{ status: 500, body: 'boom' }, { status: 200 }])
    const id = await ingestOne(app)
    const t = await settled(app, id, 'delivered')
    const log = t.deliveries[0].attemptLog
    assert.deepEqual(
      log.map((a) => a.outcome),
      ['retry', 'delivered'],
    )
    assert.equal(log[0].code, 'HTTP_500')
    assert.equal(t.deliveries[0].attempts, 2)
    const sends = receiver.received.filter((r) => r.url.includes(t.signals[0].id))
    assert.equal(sends.length, 2)
  })

  test('429 with Retry-After: waits as asked and does not burn an attempt', async () => {
    receiver.script([{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }])
    const id = await ingestOne(app)
    const t = await settled(app, id, 'delivered', 6000)
    const sends = receiver.received.filter((r) => r.url.includes(t.signals[0].id))
    assert.equal(sends.length, 2)
    assert.ok(sends[1].at - sends[0].at >= 950, `waited ${sends[1].at - sends[0].at} ms`)
    assert.deepEqual(
      t.deliveries[0].attemptLog.map((a) => a.outcome),
      ['throttled', 'delivered'],
    )
    assert.equal(t.deliveries[0].attempts, 1)
  })

  test('a hanging receiver times out and is retried', async () => {
    receiver.script([{ hang: true }, { status: 200 }])
    const id = await ingestOne(app)
    const t = await settled(app, id, 'delivered', 6000)
    assert.equal(t.deliveries[0].attemptLog[0].code, 'TIMEOUT')
    assert.equal(t.deliveries[0].attemptLog[1].outcome, 'delivered')
  })

  test('400 → dead → replay → delivered', async () => {
    receiver.script([{ status: 400, body: 'bad click id' }])
    const id = await ingestOne(app)
    const dead = await settled(app, id, 'dead')
    assert.equal(dead.deliveries[0].attemptLog[0].outcome, 'permanent')
    const list = (await app.get('/v1/deliveries?status=dead')).body as { deliveries: Array<{ id: string }> }
    assert.ok(list.deliveries.some((d) => d.id === dead.deliveries[0].id))
    const replay = await app.post(`/v1/deliveries/${dead.deliveries[0].id}/replay`, {})
    assert.equal(replay.status, 200)
    const t = await settled(app, id, 'delivered')
    assert.deepEqual(
      t.deliveries[0].attemptLog.map((a) => a.outcome),
      ['permanent', 'delivered'],
    )
  })

  test('retries run out → dead with the last error', async () => {
    receiver.script([{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }])
    const id = await ingestOne(app)
    const t = await settled(app, id, 'dead', 6000)
    assert.equal(t.deliveries[0].attempts, 4)
    assert.equal(t.deliveries[0].attemptLog.length, 4)
  })

  test("metrics: failed attempts by code, and the conversions' age at delivery", async () => {
    const m = await app.get('/metrics')
    // the attempts that failed in the tests above, by their codes
    assert.match(m.text, /^closeloop_delivery_errors_total\{destination="pb",code="HTTP_500"\} [1-9]\d*$/m)
    assert.match(m.text, /^closeloop_delivery_errors_total\{destination="pb",code="TIMEOUT"\} [1-9]\d*$/m)
    assert.doesNotMatch(m.text, /closeloop_delivery_errors_total\{[^}]*code="(HTTP_200|DELIVERED)"/)
    // every conversion of these tests was delivered within seconds of its own time
    const age = (part: string) =>
      Number(
        new RegExp(
          `^closeloop_conversion_age_at_delivery_seconds_${part}\\{destination="pb",signal="purchase"\\} ([0-9.e+-]+)$`,
          'm',
        ).exec(m.text)?.[1],
      )
    assert.ok(age('count') >= 4, `count ${age('count')}`)
    assert.ok(age('sum') / age('count') < 30, `mean ${age('sum') / age('count')} s`)
  })
})

describe('circuit breaker', () => {
  test('opens after consecutive failures, holds deliveries, recovers through a half-open probe', async () => {
    const receiver = await startReceiver()
    const app = await startApp(`
delivery: { retry_schedule_s: [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05], jitter: 0, sweep_interval_ms: 50, breaker: { failures: 3, cooldown_s: 0.6 } }
destinations:
  pb: { type: postback, url: "${receiver.url}/pb?e={event_id}", allow_private: true, concurrency: 1 }
routes:
  - { signals: ["*"], to: [pb] }
`)
    try {
      receiver.setDefault({ status: 503 })
      const ids = [await ingestOne(app), await ingestOne(app), await ingestOne(app)]
      await eventually(() => app.app.engine.health('pb')?.state === 'open', 3000, 'breaker open')
      // judged by the receiver's clock against the moment the breaker opened, not by a sleep: a stalled test
      // process must not make the half-open probe after the cooldown look like a send while open
      const openedAt = app.app.engine.health('pb')?.openedAt ?? 0
      await new Promise((r) => setTimeout(r, Math.max(0, openedAt + 500 - Date.now())))
      const whileOpen = receiver.received.filter((r) => r.at > openedAt && r.at < openedAt + 600)
      assert.deepEqual(whileOpen, [], 'nothing is sent while the breaker is open')
      receiver.setDefault({ status: 200 })
      for (const id of ids) await settled(app, id, 'delivered', 5000)
      assert.equal(app.app.engine.health('pb')?.state, 'closed')
      const metrics = await app.get('/metrics')
      assert.match(metrics.text, /closeloop_delivery_attempts_total\{destination="pb",outcome="retry"\} \d+/)
    } finally {
      await app.close()
      await receiver.close()
    }
  })
})

describe('ingest API', () => {
  let app: TestApp
  before(async () => {
    app = await startApp(`
destinations: { dry: { type: log } }
routes: [ { signals: ["*"], to: [dry] } ]
`)
  })
  after(() => app.close())

  test('a batch with mixed valid and invalid events accepts the valid ones and reports each', async () => {
    const good = ecapiEvent()
    const res = await app.post('/v1/events', {
      events: [
        good,
        { ...ecapiEvent(), timestamp: 'yesterday' },
        { ...ecapiEvent(), value: 5, currency_code: undefined },
        good,
      ],
    })
    assert.equal(res.status, 200)
    const body = res.body as {
      accepted: number
      duplicate: number
      rejected: number
      results: Array<{ status: string; error?: { code: string; details: Array<{ path: string }> } }>
    }
    assert.equal(body.accepted, 1)
    assert.equal(body.rejected, 2)
    assert.equal(body.duplicate, 1)
    assert.deepEqual(
      body.results.map((r) => r.status),
      ['accepted', 'rejected', 'rejected', 'duplicate'],
    )
    assert.equal(body.results[1].error?.code, 'E_EVENT_INVALID')
    assert.equal(body.results[1].error?.details[0].path, '/events/1/timestamp')
    assert.equal(body.results[2].error?.details[0].path, '/events/2/currency_code')
  })

  test('a duplicate is acknowledged, recorded, and derives nothing', async () => {
    const ev = ecapiEvent()
    const first = (await app.post('/v1/events', ev)).body as { event_id: string; signals: string[] }
    const again = await app.post('/v1/events', ev)
    assert.equal(again.status, 200)
    const dup = again.body as { status: string; duplicate_of: string; signals: string[]; event_id: string }
    assert.equal(dup.status, 'duplicate')
    assert.equal(dup.duplicate_of, first.event_id)
    assert.deepEqual(dup.signals, [])
    const t = (await app.get(`/v1/events/${dup.event_id}`)).body as { event: { status: string } }
    assert.equal(t.event.status, 'duplicate')
  })

  test('a single invalid event is a 400 with the field path, and its raw input is stored', async () => {
    const res = await app.post('/v1/events', { data_set_id: 'acme', timestamp: 1, event_type: 'custom' })
    assert.equal(res.status, 400)
    const err = (res.body as { error: { code: string; details: Array<{ path: string; message: string }> } })
      .error
    assert.equal(err.code, 'E_EVENT_INVALID')
    assert.deepEqual(err.details, [{ path: '/custom_event', message: 'required when event_type is custom' }])
  })

  test('client errors have stable codes and never a 5xx', async () => {
    const cases: Array<[string, Parameters<TestApp['request']>, number, string]> = [
      ['no key', ['POST', '/v1/events', ecapiEvent(), { authorization: '' }], 401, 'E_AUTH_MISSING'],
      [
        'bad key',
        ['POST', '/v1/events', ecapiEvent(), { authorization: 'Bearer nope' }],
        401,
        'E_AUTH_INVALID',
      ],
      [
        'bad json',
        ['POST', '/v1/events', '{"a":', { 'content-type': 'application/json' }],
        400,
        'E_BODY_INVALID',
      ],
      ['xml', ['POST', '/v1/events', '<a/>', { 'content-type': 'application/xml' }], 415, 'E_MEDIA_TYPE'],
      ['array', ['POST', '/v1/events', [1, 2]], 400, 'E_EVENT_INVALID'],
      ['empty batch', ['POST', '/v1/events', { events: [] }], 400, 'E_EVENT_INVALID'],
      [
        'null',
        ['POST', '/v1/events', 'null', { 'content-type': 'application/json' }],
        400,
        'E_EVENT_INVALID',
      ],
      ['unknown route', ['GET', '/v1/nope'], 404, 'E_NOT_FOUND'],
      ['unknown event', ['GET', '/v1/events/evt_nope'], 404, 'E_NOT_FOUND'],
      ['bad delivery query', ['GET', '/v1/deliveries?status=lost'], 400, 'E_INPUT_INVALID'],
      // an empty page of 0 once named its last item as the next cursor: a 500
      ['a page of no deliveries', ['GET', '/v1/deliveries?limit=0'], 400, 'E_INPUT_INVALID'],
      ['a page of no audit entries', ['GET', '/v1/audit?limit=0'], 400, 'E_INPUT_INVALID'],
    ]
    for (const [name, args, status, code] of cases) {
      const res = await app.request(...args)
      assert.equal(res.status, status, `${name}: ${res.text}`)
      assert.equal((res.body as { error: { code: string } }).error.code, code, name)
    }
    const big = await app.post('/v1/events', {
      events: [ecapiEvent({ properties: { page_url: 'x'.repeat(1_100_000) } })],
    })
    assert.equal(big.status, 413)
    assert.equal((big.body as { error: { code: string } }).error.code, 'E_BODY_TOO_LARGE')
    const tooMany = await app.post('/v1/events', { events: Array.from({ length: 1001 }, () => ({})) })
    assert.equal(tooMany.status, 413)
    assert.equal((tooMany.body as { error: { code: string } }).error.code, 'E_BATCH_TOO_LARGE')
  })

  test('the trace shows raw input, canonical event, signals and the log destination payload', async () => {
    const ev = ecapiEvent({ user_data: { email_address: 'Jane@Example.com' } })
    const { event_id } = (await app.post('/v1/events', ev)).body as { event_id: string }
    const t = await settled(app, event_id, 'delivered')
    const full = (await app.get(`/v1/events/${event_id}`)).body as {
      raw: { body: string; headers: Record<string, string> }
      event: { event: { id: string } }
    }
    assert.equal(JSON.parse(full.raw.body).id, ev.id)
    assert.equal(full.raw.headers.authorization, '[redacted]')
    assert.equal(full.event.event.id, ev.id)
    const payload = JSON.parse(t.deliveries[0].attemptLog[0].exchange?.body ?? '{}')
    assert.equal(payload.name, 'purchase')
    assert.equal(payload.event.user_data, undefined, 'raw PII is not in the log payload')
  })

  test('health, readiness and metrics', async () => {
    assert.equal((await app.request('GET', '/healthz', undefined, { authorization: '' })).status, 200)
    assert.equal((await app.request('GET', '/readyz', undefined, { authorization: '' })).status, 200)
    assert.equal((await app.request('GET', '/metrics', undefined, { authorization: '' })).status, 401)
    const m = await app.get('/metrics')
    assert.match(m.text, /closeloop_ingest_events_total\{source="ecapi",result="accepted"\}/)
    assert.match(m.text, /closeloop_ingest_to_delivered_seconds_bucket/)
    // the store's writer: group commit carries at least one write per transaction; no checkpoint is due yet
    const counter = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(m.text)?.[1])
    const transactions = counter('closeloop_store_transactions_total')
    assert.ok(transactions > 0)
    assert.ok(counter('closeloop_store_operations_total') >= transactions)
    assert.match(m.text, /closeloop_sqlite_checkpoints_total\{on="thread"\} 0/)
    assert.match(m.text, /closeloop_sqlite_checkpoints_total\{on="writer"\} 0/)
    assert.match(m.text, /^closeloop_sqlite_checkpoint_wait_seconds_total 0$/m)
  })
})

describe('webhook destination (Standard Webhooks)', () => {
  test('signed body verifies with the standardwebhooks package; webhook-id is stable across retries', async () => {
    const receiver = await startReceiver()
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
    const app = await startApp(`
delivery: { retry_schedule_s: [0.1], jitter: 0, sweep_interval_ms: 50 }
destinations:
  hook: { type: webhook, url: "${receiver.url}/hook", secret: "${secret}", allow_private: true }
routes: [ { signals: ["*"], to: [hook] } ]
`)
    try {
      receiver.script([{ status: 502 }, { status: 204 }])
      const id = await ingestOne(app)
      await settled(app, id, 'delivered')
      assert.equal(receiver.received.length, 2)
      const wh = new Webhook(secret)
      for (const r of receiver.received) {
        const verified = wh.verify(r.body, r.headers as Record<string, string>) as {
          type: string
          data: { name: string }
        }
        assert.equal(verified.type, 'signal.purchase')
        assert.equal(verified.data.name, 'purchase')
      }
      assert.equal(receiver.received[0].headers['webhook-id'], receiver.received[1].headers['webhook-id'])
      const tampered = receiver.received[1].body.replace('purchase', 'Purchase')
      assert.throws(() => wh.verify(tampered, receiver.received[1].headers as Record<string, string>))
    } finally {
      await app.close()
      await receiver.close()
    }
  })
})

describe('outbound safety', () => {
  test('a postback to a loopback address is refused without allow_private, and a 200 with success=false is a failure', async () => {
    const receiver = await startReceiver()
    const app = await startApp(`
destinations:
  guarded: { type: postback, url: "${receiver.url}/pb" }
  tune: { type: postback, url: "${receiver.url}/tune?e={event_id}", allow_private: true, success: { body_not_matches: "success=false" } }
routes: [ { signals: ["*"], to: [guarded, tune] } ]
`)
    try {
      receiver.setDefault({ status: 200, body: 'success=false; err_msg=unknown offer;' })
      const id = await ingestOne(app)
      const t = await settled(app, id, 'dead')
      const guarded = t.deliveries.find((d) => d.destination === 'guarded')!
      assert.equal(guarded.attemptLog[0].code, 'E_SSRF')
      assert.match(guarded.lastError ?? '', /^E_SSRF: 127\.0\.0\.1 is a private or loopback address/)
      assert.doesNotMatch(guarded.lastError ?? '', /E_SSRF: E_SSRF/, 'the code is said once')
      const tune = t.deliveries.find((d) => d.destination === 'tune')!
      assert.equal(tune.attemptLog[0].code, 'E_POSTBACK_REJECTED')
      assert.equal(receiver.received.filter((r) => r.url.startsWith('/pb')).length, 0)
    } finally {
      await app.close()
      await receiver.close()
    }
  })

  test('IPv6 addresses that carry an IPv4 one (compatible, 6to4, NAT64) and site-local are refused too', async () => {
    const receiver = await startReceiver()
    const port = new URL(receiver.url).port
    const literals = {
      compat: '[::7f00:1]',
      translated: '[::ffff:0:7f00:1]',
      sixto4: '[2002:7f00:1::1]',
      nat64: '[64:ff9b::a9fe:a9fe]',
      nat64local: '[64:ff9b:1::a00:1]',
      sitelocal: '[fec0::1]',
    }
    const app = await startApp(`
destinations:
${Object.entries(literals)
  .map(([name, host]) => `  ${name}: { type: postback, url: "http://${host}:${port}/pb" }`)
  .join('\n')}
routes: [ { signals: ["*"], to: [${Object.keys(literals).join(', ')}] } ]
`)
    try {
      const t = await settled(app, await ingestOne(app), 'dead')
      assert.deepEqual(
        t.deliveries.map((d) => [d.destination, d.attemptLog[0].code]).sort(),
        Object.keys(literals)
          .map((name) => [name, 'E_SSRF'])
          .sort(),
      )
      assert.equal(receiver.received.length, 0)
    } finally {
      await app.close()
      await receiver.close()
    }
  })
})

/**
 * The token bucket's law at 5/s with a burst of 5, on arrival times: by `posted + t` the destination can have
 * had at most 5 + t/200 requests, so the k-th (0-based) arrives no earlier than `posted + (k - 4) × 200`.
 * Delays can only make arrivals later, so a stalled test process cannot fail it; a missing or per-node bucket
 * sends 10 or more at once and does (2 ms: the clocks' millisecond truncation).
 */
function assertRate(arrivals: number[], posted: number) {
  const at = [...arrivals].sort((x, y) => x - y)
  const early = at
    .map((t, k) => ({ k, after: t - posted, earliest: Math.max(0, k - 4) * 200 - 2 }))
    .filter((a) => a.after < a.earliest)
  assert.deepEqual(early, [], `arrivals (ms after the POST): ${at.map((t) => t - posted).join(', ')}`)
}

describe('rate limit', () => {
  test('rate_per_s spaces requests to a destination (a burst of one second, then the rate)', async () => {
    const receiver = await startReceiver()
    const app = await startApp(`
destinations:
  pb: { type: postback, url: "${receiver.url}/pb?e={event_id}", allow_private: true, rate_per_s: 5, concurrency: 4 }
routes: [ { signals: ["*"], to: [pb] } ]
`)
    try {
      const posted = Date.now()
      const res = await app.post('/v1/events', { events: Array.from({ length: 10 }, () => ecapiEvent()) })
      assert.equal(res.status, 200)
      await eventually(() => receiver.received.length === 10, 10_000, 'ten postbacks')
      assertRate(
        receiver.received.map((r) => r.at),
        posted,
      )
    } finally {
      await app.close()
      await receiver.close()
    }
  })

  test('two nodes on one PostgreSQL database share one rate: the destination sees 5/s, not 5/s per node', async () => {
    const receiver = await startReceiver()
    const db = await createTestDatabase()
    const config = `
destinations:
  pb: { type: postback, url: "${receiver.url}/pb?e={event_id}", allow_private: true, rate_per_s: 5, concurrency: 4 }
routes: [ { signals: ["*"], to: [pb] } ]
`
    const nodes: TestApp[] = []
    try {
      for (let i = 0; i < 2; i++) {
        const store = await openPostgresStore(db.url)
        await store.migrate()
        nodes.push(await startApp(config, { store }))
      }
      const posted = Date.now()
      const results = await Promise.all(
        nodes.map((n) => n.post('/v1/events', { events: Array.from({ length: 10 }, () => ecapiEvent()) })),
      )
      for (const r of results) assert.equal(r.status, 200)
      await eventually(() => receiver.received.length === 20, 15_000, 'twenty postbacks')
      // one shared bucket: 5 at once, then 15 at 5/s, ~3 s; a bucket per node would send 10 at once
      assertRate(
        receiver.received.map((r) => r.at),
        posted,
      )
    } finally {
      for (const n of nodes) await n.close()
      await receiver.close()
      await db.drop()
    }
  })
})
