/**
 * The meta_capi destination end to end over real sockets: `createHttpClient` → the local Graph mock.
 */
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { sha256Hex } from '../../identity/hash.ts'
import type { Signal } from '../../model/signal.ts'
import type { DestinationContext } from '../contract.ts'
import { createHttpClient, type HttpClient } from '../http.ts'
import { split } from '../isolate.ts'
import { job, makeSignal } from './fixtures.test.ts'
import { type MetaCapiConfig, metaCapiDestination } from './index.ts'
import { type MockGraph, startMockGraph } from './mock-server.ts'

const TOKEN = 'EAAB-test-token-123456'
const PIXEL = '1234567890'

let graph: MockGraph
let http: HttpClient
const logs: object[] = []

function ctx(testMode = false): DestinationContext {
  return {
    http,
    testMode,
    now: Date.now,
    log: { info: (o) => logs.push(o), warn: (o) => logs.push(o) },
  }
}

function destination(extra: Partial<MetaCapiConfig> & { batch_size?: number; test_mode?: boolean } = {}) {
  return metaCapiDestination.create('meta', {
    type: 'meta_capi',
    pixel_id: PIXEL,
    access_token: TOKEN,
    base_url: graph.url,
    allow_private: true,
    ...extra,
  })
}

const nowS = () => Math.floor(Date.now() / 1000)
const signals = (
  n: number,
  f: (i: number) => Partial<Parameters<typeof makeSignal>[0]> = () => ({}),
): Signal[] => Array.from({ length: n }, (_, i) => makeSignal({ id: `sig-${i}`, ...f(i) }, nowS()))

/**
 * An event that passes our pre-send checks but that Meta rejects: a malformed client IP (Meta validates it;
 * closeloop trusts the ingest schema to have done so, so the mock is where it surfaces).
 */
function badForMeta(s: Signal): Signal {
  return { ...s, event: { ...s.event, user_data: { ...s.event.user_data, event_ip_address: '999.1.1.1' } } }
}

before(async () => {
  graph = await startMockGraph({ tokens: [TOKEN], expiredTokens: ['expired-token'], pixels: [PIXEL] })
  http = createHttpClient({ allowPrivate: true })
})
after(async () => {
  await http.close()
  await graph.close()
})
beforeEach(() => {
  graph.requests.length = 0
  graph.accepted.length = 0
})

describe('meta_capi against the Graph mock', () => {
  test('success: one request, one outcome per job in order, event_id = signal id, token not in the log', async () => {
    const batch = signals(3)
    const out = await destination().send(batch.map(job), ctx())
    assert.deepEqual(
      out.map((o) => o.kind),
      ['delivered', 'delivered', 'delivered'],
    )
    assert.equal(graph.requests.length, 1)
    const req = graph.requests[0]
    assert.equal(req.path, `/v26.0/${PIXEL}/events`)
    assert.equal(req.headers.authorization, `Bearer ${TOKEN}`)
    assert.deepEqual(
      graph.accepted.map((a) => a.event.event_id),
      ['sig-0', 'sig-1', 'sig-2'],
    )
    const first = graph.accepted[0].event as {
      user_data: { em: string[]; ph: string[] }
      action_source: string
    }
    assert.deepEqual(first.user_data.em, [sha256Hex('person@example.com')])
    assert.deepEqual(first.user_data.ph, [sha256Hex('15105550011')])
    assert.equal(first.action_source, 'phone_call')
    assert.match(out[0].message ?? '', /events_received=3 fbtrace_id=/)
    const ex = out[0].exchange!
    assert.equal(ex.headers.authorization, '[redacted]')
    assert.ok(!JSON.stringify(ex).includes(TOKEN))
  })

  test('batch_size splits into requests of at most that many events', async () => {
    const out = await destination({ batch_size: 2 }).send(signals(5).map(job), ctx())
    assert.equal(out.filter((o) => o.kind === 'delivered').length, 5)
    assert.deepEqual(
      graph.requests.map((r) => (r.body as { data: unknown[] }).data.length),
      [2, 2, 1],
    )
  })

  test('batch_size above 1,000 is capped at Meta’s limit', async () => {
    const out = await destination({ batch_size: 5000 }).send(signals(1001).map(job), ctx())
    assert.equal(out.filter((o) => o.kind === 'delivered').length, 1001)
    assert.deepEqual(
      graph.requests.map((r) => (r.body as { data: unknown[] }).data.length),
      [1000, 1],
    )
  })

  test('batch isolation: one invalid event among 10 → 9 delivered, 1 permanent with Meta’s message', async () => {
    const batch = signals(10)
    batch[6] = badForMeta(batch[6])
    const out = await destination().send(batch.map(job), ctx())
    assert.equal(out.length, 10)
    assert.deepEqual(
      out.map((o, i) => (o.kind === 'delivered' ? 'ok' : i)),
      ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 6, 'ok', 'ok', 'ok'],
    )
    assert.equal(out[6].kind, 'permanent')
    assert.equal(out[6].code, 'META_100')
    assert.match(out[6].message ?? '', /Invalid IP Address: .*999\.1\.1\.1/)
    assert.match(out[6].message ?? '', /fbtrace_id/)
    assert.equal(graph.accepted.length, 9)
    assert.ok(!graph.accepted.some((a) => a.event.event_id === 'sig-6'))
    // named index: batch, the bad one alone, the rest together
    assert.equal(graph.requests.length, 3)
  })

  test('batch isolation without an index in Meta’s message: bisects, still exact', async () => {
    const quiet = await startMockGraph({ tokens: [TOKEN], pixels: [PIXEL], namesIndex: false })
    try {
      const batch = signals(16)
      batch[3] = badForMeta(batch[3])
      batch[11] = badForMeta(batch[11])
      const out = await metaCapiDestination
        .create('meta', { type: 'meta_capi', pixel_id: PIXEL, access_token: TOKEN, base_url: quiet.url })
        .send(batch.map(job), ctx())
      const bad = out.flatMap((o, i) => (o.kind === 'permanent' ? [i] : []))
      assert.deepEqual(bad, [3, 11])
      assert.equal(out.filter((o) => o.kind === 'delivered').length, 14)
      assert.equal(quiet.accepted.length, 14)
      assert.ok(quiet.requests.length <= 1 + 2 * 2 * Math.log2(16), `${quiet.requests.length} requests`)
    } finally {
      await quiet.close()
    }
  })

  test('pre-send validation: too old, unmapped and Purchase without value are never sent', async () => {
    const batch = [
      makeSignal({ id: 'old', occurredAt: nowS() - 8 * 86400 }, nowS()),
      makeSignal({ id: 'unmapped', name: 'disposition:No Answer' }, nowS()),
      makeSignal({ id: 'novalue', name: 'disposition:Sale' }, nowS()),
      makeSignal({ id: 'good' }, nowS()),
    ]
    const out = await destination().send(batch.map(job), ctx())
    assert.deepEqual(
      out.map((o) => o.code),
      ['META_EVENT_TOO_OLD', 'META_SIGNAL_NOT_MAPPED', 'META_PURCHASE_VALUE_MISSING', 'HTTP_200'],
    )
    assert.deepEqual(
      out.map((o) => o.kind),
      ['permanent', 'permanent', 'permanent', 'delivered'],
    )
    assert.equal(graph.requests.length, 1)
    assert.deepEqual(
      graph.accepted.map((a) => a.event.event_id),
      ['good'],
    )
  })

  test('nothing valid → no request at all', async () => {
    const out = await destination().send([job(makeSignal({ name: 'follow_up' }, nowS()))], ctx())
    assert.equal(out[0].kind, 'permanent')
    assert.equal(graph.requests.length, 0)
  })

  for (const code of [4, 17, 613, 80004] as const) {
    test(`throttling code ${code} → throttled, later batches not sent`, async () => {
      graph.inject({ kind: 'throttle', code, retryAfterS: 30 })
      const out = await destination({ batch_size: 2 }).send(signals(4).map(job), ctx())
      assert.deepEqual(
        out.map((o) => o.kind),
        ['throttled', 'throttled', 'throttled', 'throttled'],
      )
      assert.equal(out[0].code, `META_${code}`)
      assert.equal(out[0].retryAfterMs, 30_000)
      assert.match(out[2].message ?? '', /^not sent: /)
      assert.equal(graph.requests.length, 1)
    })
  }

  test('throttling without Retry-After: the usage header’s regain time becomes the delay', async () => {
    graph.inject({ kind: 'throttle', code: 80004, regainMinutes: 3 })
    const out = await destination().send(signals(1).map(job), ctx())
    assert.equal(out[0].kind, 'throttled')
    assert.equal(out[0].retryAfterMs, 180_000)
  })

  test('invalid token (190) → paused, for every job', async () => {
    const out = await metaCapiDestination
      .create('meta', {
        type: 'meta_capi',
        pixel_id: PIXEL,
        access_token: 'wrong-token',
        base_url: graph.url,
      })
      .send(signals(2).map(job), ctx())
    assert.deepEqual(
      out.map((o) => [o.kind, o.code]),
      [
        ['paused', 'META_190'],
        ['paused', 'META_190'],
      ],
    )
  })

  test('expired token (190/463) → paused with Meta’s message', async () => {
    const out = await metaCapiDestination
      .create('meta', {
        type: 'meta_capi',
        pixel_id: PIXEL,
        access_token: 'expired-token',
        base_url: graph.url,
      })
      .send(signals(1).map(job), ctx())
    assert.equal(out[0].kind, 'paused')
    assert.equal(out[0].code, 'META_190_463')
    assert.match(out[0].message ?? '', /Session has expired/)
  })

  test('unknown pixel (100/33) → paused (config), not isolated', async () => {
    const out = await metaCapiDestination
      .create('meta', { type: 'meta_capi', pixel_id: '999', access_token: TOKEN, base_url: graph.url })
      .send(signals(3).map(job), ctx())
    assert.deepEqual(
      out.map((o) => o.code),
      ['META_100_33', 'META_100_33', 'META_100_33'],
    )
    assert.equal(out[0].kind, 'paused')
    assert.equal(graph.requests.length, 1)
  })

  test('HTML 502 from a proxy → retry; Graph transient code 2 → retry', async () => {
    graph.inject({ kind: 'server_error', status: 502 })
    const a = await destination().send(signals(1).map(job), ctx())
    assert.deepEqual([a[0].kind, a[0].code], ['retry', 'HTTP_502'])
    graph.inject({ kind: 'transient', code: 2 })
    const b = await destination().send(signals(1).map(job), ctx())
    assert.deepEqual([b[0].kind, b[0].code], ['retry', 'META_2'])
  })

  test('network failure → retry', async () => {
    const out = await metaCapiDestination
      .create('meta', {
        type: 'meta_capi',
        pixel_id: PIXEL,
        access_token: TOKEN,
        base_url: 'http://127.0.0.1:1',
        timeout_ms: 1000,
      })
      .send(signals(1).map(job), ctx())
    assert.equal(out[0].kind, 'retry')
  })

  test('consent: no PII, LDU and opt_out reach Meta as such', async () => {
    const batch = [
      makeSignal({ id: 'nopii', consent: { pii: false } }, nowS()),
      makeSignal({ id: 'ldu', consent: { ldu: true } }, nowS()),
      makeSignal({ id: 'mmt', consent: { mmtOnly: true } }, nowS()),
    ]
    const out = await destination().send(batch.map(job), ctx())
    assert.ok(out.every((o) => o.kind === 'delivered'))
    const byId = new Map(graph.accepted.map((a) => [a.event.event_id, a.event]))
    const nopii = byId.get('nopii') as { user_data: Record<string, unknown> }
    assert.deepEqual(Object.keys(nopii.user_data).sort(), ['client_user_agent', 'fbc'])
    assert.deepEqual(byId.get('ldu')?.data_processing_options, ['LDU'])
    assert.equal(byId.get('ldu')?.data_processing_options_country, 0)
    assert.equal(byId.get('ldu')?.data_processing_options_state, 0)
    assert.equal(byId.get('mmt')?.opt_out, true)
  })

  test('match keys: each outcome names the user_data keys Meta received for its event', async () => {
    const batch = [
      makeSignal({ id: 'full' }, nowS()),
      makeSignal({ id: 'nopii', consent: { pii: false } }, nowS()),
    ]
    const out = await destination().send(batch.map(job), ctx())
    assert.deepEqual(
      out.map((o) => [o.kind, o.matchKeys]),
      [
        ['delivered', ['country', 'ct', 'em', 'fbc', 'fn', 'ln', 'ph', 'st', 'zp']],
        ['delivered', ['fbc']],
      ],
    )
    // Meta received those keys, and the IP and user agent, which identify nobody (see presentKeys)
    assert.deepEqual(
      graph.accepted.map((a) => Object.keys(a.event.user_data as object).sort()),
      [
        ['client_ip_address', 'client_user_agent', ...(out[0].matchKeys ?? [])],
        ['client_user_agent', 'fbc'],
      ],
    )
  })

  test('match keys: kept on the event Meta rejected out of a batch; none for an event never built', async () => {
    const batch = [
      makeSignal({ id: 'ok', consent: { pii: false } }, nowS()),
      badForMeta(makeSignal({ id: 'bad', event: { user_data: { email_address: 'a@b.co' } } }, nowS())),
      makeSignal({ id: 'unmapped', name: 'follow_up' }, nowS()),
    ]
    const out = await destination().send(batch.map(job), ctx())
    assert.deepEqual(
      out.map((o) => [o.kind, o.code, o.matchKeys]),
      [
        ['delivered', 'HTTP_200', ['fbc']],
        ['permanent', 'META_100', ['em', 'fbc', 'ph']],
        ['permanent', 'META_SIGNAL_NOT_MAPPED', undefined],
      ],
    )
  })

  test('test mode: test_event_code sent from ctx.testMode or config test_mode; never otherwise', async () => {
    await destination({ test_event_code: 'TEST123' }).send(signals(1).map(job), ctx(true))
    await destination({ test_event_code: 'TEST123', test_mode: true }).send(signals(1).map(job), ctx())
    await destination({ test_event_code: 'TEST123' }).send(signals(1).map(job), ctx())
    assert.deepEqual(
      graph.accepted.map((a) => a.testEventCode),
      ['TEST123', 'TEST123', undefined],
    )
  })

  test('test mode without a test_event_code → permanent, nothing sent live', async () => {
    const out = await destination().send(signals(1).map(job), ctx(true))
    assert.deepEqual([out[0].kind, out[0].code], ['permanent', 'META_TEST_CODE_MISSING'])
    assert.equal(graph.requests.length, 0)
  })

  test('app_secret adds appsecret_proof = HMAC-SHA256(secret, token), checked by the mock', async () => {
    const { createHmac } = await import('node:crypto')
    const proof = createHmac('sha256', 'app-secret-xyz').update(TOKEN).digest('hex')
    const strict = await startMockGraph({ tokens: [TOKEN], pixels: [PIXEL], appsecretProof: proof })
    try {
      const d = (secret: string) =>
        metaCapiDestination.create('meta', {
          type: 'meta_capi',
          pixel_id: PIXEL,
          access_token: TOKEN,
          app_secret: secret,
          base_url: strict.url,
        })
      assert.equal((await d('app-secret-xyz').send(signals(1).map(job), ctx()))[0].kind, 'delivered')
      const wrong = await d('other-secret').send(signals(3).map(job), ctx())
      // a request-level error reported as code 100: paused once, not isolated event by event
      assert.deepEqual(
        wrong.map((o) => o.kind),
        ['paused', 'paused', 'paused'],
      )
      assert.equal(strict.requests.length, 2)
      assert.ok(!JSON.stringify(wrong[0].exchange).includes('other-secret'))
    } finally {
      await strict.close()
    }
  })

  test('api_version and a base_url with a trailing slash', async () => {
    await metaCapiDestination
      .create('meta', {
        type: 'meta_capi',
        pixel_id: PIXEL,
        access_token: TOKEN,
        api_version: 'v24.0',
        base_url: `${graph.url}/`,
      })
      .send(signals(1).map(job), ctx())
    assert.equal(graph.requests[0].path, `/v24.0/${PIXEL}/events`)
  })
})

describe('split', () => {
  test('named index alone, else halves; out-of-range index falls back to halves', () => {
    assert.deepEqual(split([1, 2, 3, 4], 2), [[3], [1, 2, 4]])
    assert.deepEqual(split([1, 2, 3, 4]), [
      [1, 2],
      [3, 4],
    ])
    assert.deepEqual(split([1, 2, 3], 9), [[1, 2], [3]])
  })
})
