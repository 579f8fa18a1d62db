/**
 * The ecapi destination end to end over real sockets: `createHttpClient` → the local ECAPI partner, which
 * verifies the Standard Webhooks signature with the official `standardwebhooks` package and validates every
 * event against closeloop's own `EcapiEvent` schema.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { sha256Hex } from '../../identity/hash.ts'
import { createHttpClient, type HttpClient } from '../http.ts'
import { context, job, signal } from './fixtures.test.ts'
import { type EcapiConfig, ecapiDestination, messageId } from './index.ts'
import { type MockEcapi, type MockEcapiOptions, startMockEcapi } from './mock-server.ts'

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
const OTHER = 'whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkgMTIz'
const TOKEN = 'partner-bearer-token-1'

let http: HttpClient
const mocks: MockEcapi[] = []

before(() => {
  http = createHttpClient({ allowPrivate: true })
})
after(async () => {
  await http.close()
  for (const m of mocks) await m.close()
})

async function partner(opts: MockEcapiOptions = { secret: SECRET }) {
  const m = await startMockEcapi(opts)
  mocks.push(m)
  return m
}

function destination(
  p: MockEcapi,
  extra: Partial<EcapiConfig> & { batch_size?: number; test_mode?: boolean } = {},
) {
  return ecapiDestination.create('partner', {
    type: 'ecapi',
    url: `${p.url}/ecapi/v1/events`,
    secret: SECRET,
    allow_private: true,
    ...extra,
  })
}

const many = (n: number) =>
  Array.from({ length: n }, (_, i) => signal({ id: `sig-${i}`, name: 'qualified_call' }))

describe('ecapi against a local partner', () => {
  test('success: signed single event, webhook-id = signal id, verified by standardwebhooks', async () => {
    const p = await partner()
    const out = await destination(p, { click_id_from: 'gclid' }).send([job(signal())], context(http))
    assert.equal(out[0].kind, 'delivered', out[0].message)
    assert.equal(out[0].code, 'HTTP_200')
    const req = p.requests[0]
    assert.equal(req.headers['webhook-id'], 'sig-1')
    // the partner's verification passed; verify again here with the official library as the oracle
    assert.doesNotThrow(() =>
      new Webhook(SECRET).verify(req.raw, {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      }),
    )
    const rec = p.records.get('acme\u241fsig-1')!
    assert.equal(rec.event_type, 'contact')
    assert.equal(rec.source, 'phone_call')
    assert.equal((rec.user_data as { click_id: string }).click_id, 'Cj0-gclid')
    assert.equal((rec.user_data as { email_address: string }).email_address, sha256Hex('user@example.com'))
    assert.ok(!JSON.stringify(out[0].exchange).includes('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'))
  })

  test('a resend is the same record: merged on (data_set_id, id)', async () => {
    const p = await partner()
    const d = destination(p)
    await d.send([job(signal())], context(http))
    await d.send([job(signal())], context(http))
    assert.equal(p.records.size, 1)
    assert.equal(p.merges, 1)
    assert.equal(p.requests[0].headers['webhook-id'], p.requests[1].headers['webhook-id'])
  })

  test('key rotation: both secrets sign; a partner on either one verifies', async () => {
    for (const partnerSecret of [SECRET, OTHER]) {
      const p = await partner({ secret: partnerSecret })
      const out = await destination(p, { secret: [OTHER, SECRET] }).send([job(signal())], context(http))
      assert.equal(out[0].kind, 'delivered')
      assert.equal(String(p.requests[0].headers['webhook-signature']).split(' ').length, 2)
    }
  })

  test('bearer auth alone, and bearer + signature', async () => {
    const bearerOnly = await partner({ bearerToken: TOKEN })
    const a = await ecapiDestination
      .create('p', { type: 'ecapi', url: bearerOnly.url, bearer_token: TOKEN })
      .send([job(signal())], context(http))
    assert.equal(a[0].kind, 'delivered')
    assert.equal(bearerOnly.requests[0].headers['webhook-signature'], undefined)
    assert.equal(a[0].exchange?.headers.authorization, '[redacted]')

    const both = await partner({ bearerToken: TOKEN, secret: SECRET })
    const b = await destination(both, { bearer_token: TOKEN }).send([job(signal())], context(http))
    assert.equal(b[0].kind, 'delivered')
  })

  test('batch envelope: batch_size per request, one outcome per job in order', async () => {
    const p = await partner({ secret: SECRET, batch: true })
    const out = await destination(p, { envelope: 'batch', batch_size: 2 }).send(
      many(5).map(job),
      context(http),
    )
    assert.deepEqual(
      out.map((o) => o.kind),
      ['delivered', 'delivered', 'delivered', 'delivered', 'delivered'],
    )
    assert.deepEqual(
      p.requests.map((r) => r.events.length),
      [2, 2, 1],
    )
    assert.equal(p.requests[0].headers['webhook-id'], messageId(['sig-0', 'sig-1']))
    assert.equal(p.records.size, 5)
  })

  test('invalid → permanent; in a batch the bad event is isolated and the rest delivered', async () => {
    const p = await partner({ secret: SECRET, batch: true })
    const batch = many(6)
    // passes closeloop's own checks, fails the partner's schema: an impossible age range
    batch[4] = signal({ id: 'bad', name: 'qualified_call', event: { user_data: { age_range: 99 } } })
    const out = await destination(p, { envelope: 'batch', batch_size: 6 }).send(batch.map(job), context(http))
    assert.deepEqual(
      out.map((o) => o.kind),
      ['delivered', 'delivered', 'delivered', 'delivered', 'permanent', 'delivered'],
    )
    assert.equal(out[4].code, 'HTTP_400')
    assert.match(out[4].message ?? '', /invalid event/)
    assert.equal(p.records.size, 5)
    assert.ok(p.requests.length <= 1 + 2 * Math.ceil(Math.log2(6)), `${p.requests.length} requests`)
  })

  test('a wrong signature → 401 → paused, later requests not sent', async () => {
    const p = await partner({ secret: OTHER })
    const out = await destination(p, { batch_size: 3 }).send(many(3).map(job), context(http))
    assert.deepEqual(
      out.map((o) => o.kind),
      ['paused', 'paused', 'paused'],
    )
    assert.equal(out[0].code, 'HTTP_401')
    assert.match(out[0].message ?? '', /credential rejected.*signature/)
    assert.match(out[1].message ?? '', /^not sent: /)
    assert.equal(p.requests.length, 1)
  })

  test('throttling: 429 + Retry-After → throttled with the delay, nothing else sent', async () => {
    const p = await partner()
    p.inject({ kind: 'throttle', retryAfterS: 30 })
    const out = await destination(p).send(many(2).map(job), context(http))
    assert.deepEqual(
      out.map((o) => o.kind),
      ['throttled', 'throttled'],
    )
    assert.equal(out[0].retryAfterMs, 30_000)
    assert.equal(p.requests.length, 1)
  })

  test('500 → retry; 404 → permanent', async () => {
    const p = await partner()
    p.inject({ kind: 'server_error' })
    const out = await destination(p).send([job(signal())], context(http))
    assert.equal(out[0].kind, 'retry')
    assert.equal(out[0].code, 'HTTP_500')
    p.inject({ kind: 'raw', status: 404, body: 'no such endpoint' })
    const gone = await destination(p).send([job(signal())], context(http))
    assert.equal(gone[0].kind, 'permanent')
  })

  test('consent: without PII consent no hashed PII and no IP reach the partner', async () => {
    const p = await partner()
    const out = await destination(p, { click_id_from: 'ttclid' }).send(
      [job(signal({ consent: { pii: false } }))],
      context(http),
    )
    assert.equal(out[0].kind, 'delivered')
    const ud = p.records.get('acme\u241fsig-1')!.user_data as Record<string, unknown>
    assert.deepEqual(Object.keys(ud).sort(), ['click_id', 'event_user_agent', 'gpp_sid', 'gpp_string'])
    for (const raw of ['user@example.com', '203.0.113.7', sha256Hex('user@example.com'), '646'])
      assert.ok(!p.requests[0].raw.includes(raw), raw)
  })

  test('match keys: each outcome names the user_data identifiers the partner received', async () => {
    const p = await partner({ secret: SECRET, batch: true })
    const batch = [
      signal({ id: 'full', name: 'qualified_call' }),
      signal({ id: 'nopii', name: 'qualified_call', consent: { pii: false } }),
      // passes closeloop's checks, fails the partner's schema: an impossible age range
      signal({ id: 'bad', name: 'qualified_call', event: { user_data: { age_range: 99 } } }),
      signal({ id: 'unmapped', name: 'follow_up' }),
    ]
    const out = await destination(p, { envelope: 'batch', batch_size: 4, click_id_from: 'gclid' }).send(
      batch.map(job),
      context(http),
    )
    assert.deepEqual(
      out.map((o) => [o.kind, o.matchKeys]),
      [
        ['delivered', ['address', 'click_id', 'customer_identifier', 'email_address', 'phone_numbers']],
        ['delivered', ['click_id']],
        ['permanent', ['click_id', 'phone_numbers']],
        ['permanent', undefined],
      ],
    )
    const ud = p.records.get('acme\u241fnopii')!.user_data as Record<string, unknown>
    // the user agent was sent, and is no match key (see presentKeys)
    assert.deepEqual(Object.keys(ud).sort(), ['click_id', 'event_user_agent', 'gpp_sid', 'gpp_string'])
  })

  test('unmapped signals are permanent and never sent', async () => {
    const p = await partner()
    const out = await destination(p).send(
      [job(signal({ name: 'follow_up' })), job(signal({ id: 'ok' }))],
      context(http),
    )
    assert.equal(out[0].kind, 'permanent')
    assert.equal(out[0].code, 'ECAPI_SIGNAL_NOT_MAPPED')
    assert.equal(out[1].kind, 'delivered')
    assert.equal(p.requests.length, 1)
  })

  test('test mode: sent to test_url marked ext.closeloop.test; refused without test_url', async () => {
    const p = await partner()
    const out = await destination(p, { test_url: `${p.url}/ecapi/test` }).send(
      [job(signal())],
      context(http, true),
    )
    assert.equal(out[0].kind, 'delivered')
    assert.equal(p.requests[0].path, '/ecapi/test')
    assert.deepEqual(
      (p.records.get('acme\u241fsig-1')!.ext as { closeloop: { test: boolean } }).closeloop.test,
      true,
    )
    const refused = await destination(p).send([job(signal())], context(http, true))
    assert.equal(refused[0].kind, 'permanent')
    assert.equal(refused[0].code, 'ECAPI_TEST_URL_MISSING')
    assert.equal(p.requests.length, 1)
  })
})
