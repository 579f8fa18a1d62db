/**
 * Ad platforms through the whole pipeline: events ingested over HTTP reach the local Meta Graph and Google Data
 * Manager servers (which check auth, shape and the official protos), hashed per platform; one invalid event in a
 * Meta batch is dead-lettered with Meta's message while the others are delivered; `send-test` prints a test-mode
 * request and response.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { startMockGraph } from '../../src/destinations/meta_capi/mock-server.ts'
import { sha256Hex } from '../../src/identity/hash.ts'
import { ecapiEvent, eventually, startApp, type TestApp } from '../helpers/app.ts'
import { startAdPlatforms } from '../helpers/platforms.ts'
import { startReceiver } from '../helpers/receiver.ts'

describe('Meta and Google through the pipeline', () => {
  let ads: Awaited<ReturnType<typeof startAdPlatforms>>
  let graph: typeof ads.graph
  let google: typeof ads.google
  let app: TestApp
  before(async () => {
    ads = await startAdPlatforms({ metaExtra: 'batch_size: 50' })
    ;({ graph, google } = ads)
    app = await startApp(`
delivery: { sweep_interval_ms: 50, retry_schedule_s: [0.1], jitter: 0 }
destinations:
${ads.destinations}
routes:
  - { signals: ["*"], to: [meta, google] }
`)
  })
  after(async () => {
    await app.close()
    await ads.close()
  })

  test('a purchase reaches both platforms with each platform’s own hashes and the same idempotency key', async () => {
    const ev = ecapiEvent({
      source: 'phone_call',
      user_data: { email_address: ' John.Doe@Gmail.com ', phone_numbers: '+1 (212) 555-0000' },
      ext: { click_ids: { gclid: 'Cj0KCQ-test', fbclid: 'IwAR-abc', clicked_at: Date.now() - 60_000 } },
    })
    const { event_id, signals } = (await app.post('/v1/events', ev)).body as {
      event_id: string
      signals: string[]
    }
    await eventually(async () => {
      const t = (await app.get(`/v1/events/${event_id}`)).body as { deliveries: Array<{ status: string }> }
      return t.deliveries.length === 2 && t.deliveries.every((d) => d.status === 'delivered')
    }, 8000)
    const metaEvent = graph.accepted.find((a) => a.event.event_id === signals[0])?.event as {
      user_data: { em: string[]; ph: string[]; fbc: string }
    }
    assert.ok(metaEvent, 'Meta received the event with event_id = signal id')
    assert.deepEqual(metaEvent.user_data.em, [sha256Hex('john.doe@gmail.com')])
    assert.deepEqual(metaEvent.user_data.ph, [sha256Hex('12125550000')], 'Meta: digits only')
    assert.match(metaEvent.user_data.fbc, /^fb\.1\.\d+\.IwAR-abc$/)
    const g = google.events.get(`111/${signals[0]}`)
    assert.ok(g, 'Google received transactionId = signal id, for conversion action 111')
    const ids = JSON.stringify(g.event)
    assert.ok(ids.includes(sha256Hex('johndoe@gmail.com')), 'Google: gmail dots removed')
    assert.ok(ids.includes(sha256Hex('+12125550000')), 'Google: E.164 with +')
    assert.ok(ids.includes('Cj0KCQ-test'))
  })

  // Meta-side rejection and bisection are covered against the mock in src/destinations/meta_capi; here an event
  // Meta would reject (a Purchase without value) is caught before sending, inside the same batch
  test('one unsendable event in a Meta batch is dead-lettered with the reason, the rest of the batch delivered', async () => {
    const good = Array.from({ length: 6 }, () =>
      ecapiEvent({ source: 'phone_call', user_data: { email_address: 'a@b.co' } }),
    )
    const bad = ecapiEvent({
      user_data: { email_address: 'a@b.co' },
      value: undefined,
      currency_code: undefined,
    })
    const res = await app.post('/v1/events', { events: [...good.slice(0, 3), bad, ...good.slice(3)] })
    assert.equal(res.status, 200)
    const results = (res.body as { results: Array<{ event_id: string }> }).results
    const traces = await eventually(async () => {
      const all = await Promise.all(
        results.map(
          async (r) =>
            (await app.get(`/v1/events/${r.event_id}`)).body as {
              deliveries: Array<{ destination: string; status: string; lastError?: string }>
            },
        ),
      )
      const meta = all.map((t) => t.deliveries.find((d) => d.destination === 'meta'))
      return meta.every((d) => d && (d.status === 'delivered' || d.status === 'dead')) ? meta : undefined
    }, 10_000)
    assert.equal(traces.filter((d) => d?.status === 'delivered').length, 6)
    const dead = traces[3]
    assert.equal(dead?.status, 'dead')
    assert.match(dead?.lastError ?? '', /value/i, `reason kept: ${dead?.lastError}`)
  })
})

describe('closeloop send-test', () => {
  test('sends one synthetic conversion in Meta test mode and prints request and response', async () => {
    const graph = await startMockGraph({ tokens: ['meta-token-xyz'], pixels: ['777'] })
    const dir = mkdtempSync(join(tmpdir(), 'closeloop-sendtest-'))
    const file = join(dir, 'c.yaml')
    writeFileSync(
      file,
      `
store: { sqlite: ${join(dir, 'x.db')} }
destinations:
  meta: { type: meta_capi, pixel_id: "777", access_token: meta-token-xyz, test_event_code: TEST123, base_url: "${graph.url}", allow_private: true }
`,
    )
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [
        'src/main.ts',
        'send-test',
        '--destination',
        'meta',
        '--config',
        file,
      ])
      assert.match(stdout, /^outcome: delivered/m)
      assert.match(stdout, /request: POST .*\/777\/events/)
      assert.ok(!stdout.includes('meta-token-xyz'), 'the access token is never printed')
      assert.equal(graph.accepted.length, 1)
      assert.equal(graph.accepted[0].testEventCode, 'TEST123')
    } finally {
      await graph.close()
    }
  })

  test('a postback or webhook has no test flag: send-test goes to its test_url, or nowhere', async () => {
    const receiver = await startReceiver()
    const dir = mkdtempSync(join(tmpdir(), 'closeloop-sendtest-'))
    const file = join(dir, 'c.yaml')
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
    writeFileSync(
      file,
      `
store: { sqlite: ${join(dir, 'x.db')} }
destinations:
  net: { type: postback, url: "${receiver.url}/live?c={click_id}&p={payout}", allow_private: true }
  net-test: { type: postback, url: "${receiver.url}/live?c={click_id}", test_url: "${receiver.url}/test?c={click_id}", allow_private: true }
  hook: { type: webhook, url: "${receiver.url}/hook", secret: ${secret}, allow_private: true }
  hook-test: { type: webhook, url: "${receiver.url}/hook", test_url: "${receiver.url}/hook-test", secret: ${secret}, headers: { X-Crm-Token: crm-live-token-9f8e7d6c }, allow_private: true }
`,
    )
    const sendTest = (destination: string) =>
      promisify(execFile)(process.execPath, [
        'src/main.ts',
        'send-test',
        '--destination',
        destination,
        '--config',
        file,
      ])
    try {
      // without a test_url nothing leaves: the live network would count (and pay) a test as a conversion
      for (const [name, code] of [
        ['net', 'POSTBACK_TEST_URL_MISSING'],
        ['hook', 'WEBHOOK_TEST_URL_MISSING'],
      ]) {
        await assert.rejects(sendTest(name), (err: { code: number; stdout: string }) => {
          assert.equal(err.code, 1)
          assert.match(
            err.stdout,
            new RegExp(`^outcome: permanent \\(${code}\\): test mode needs test_url`, 'm'),
          )
          return true
        })
      }
      assert.equal(receiver.received.length, 0)
      await sendTest('net-test')
      const hook = await sendTest('hook-test')
      // a receiver's own token in headers is sent, and never printed or logged
      assert.ok(!hook.stdout.includes('crm-live-token-9f8e7d6c'), hook.stdout)
      assert.match(hook.stdout, /x-crm-token: \[redacted\]/i)
      assert.deepEqual(
        receiver.received.map((r) => r.url.split('?')[0]),
        ['/test', '/hook-test'],
      )
      assert.equal(JSON.parse(receiver.received[1].body).test, true)
      assert.equal(receiver.received[1].headers['x-crm-token'], 'crm-live-token-9f8e7d6c')
    } finally {
      await receiver.close()
    }
  })
})
