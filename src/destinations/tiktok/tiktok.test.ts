/**
 * The tiktok destination: the pure builder and error table, and end to end over real sockets against the
 * local Events API mock (errors as HTTP 200 with a code, one bad event fails a request).
 */
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { sha256Hex } from '../../identity/hash.ts'
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { ClickIdentity } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import { createHttpClient, type HttpClient } from '../http.ts'
import { type SignalOverrides, testContext, testJob, testSignal } from '../testing/signals.ts'
import { classifyTikTokCode, parseTikTokAnswer } from './errors.ts'
import { type TikTokConfig, tiktokDestination } from './index.ts'
import { type MockTikTok, startMockTikTok } from './mock-server.ts'
import { buildTikTokEvent, matchKeysOf, normalizeTikTokPhone, resolveEventName } from './payload.ts'

const TOKEN = 'tt-access-token-123'
const ES = '7321000000000000001'
const nowS = () => Math.floor(Date.now() / 1000)

function signal(o: SignalOverrides = {}): Signal {
  const t = nowS() - 120
  const base: EcapiEvent = {
    data_set_id: 'acme',
    id: 'evt-1',
    timestamp: t,
    event_type: 'contact',
    user_data: {
      email_address: ' Jane.Doe@Example.com ',
      customer_identifier: 'CUST-9',
      event_ip_address: '203.0.113.7',
      event_user_agent: 'Mozilla/5.0',
    },
    ext: {
      call: { call_id: 'CA1', caller: '(212) 555-0000' },
      click_ids: { ttclid: 'E.C.P.ttclid-1' },
    },
  }
  return testSignal(base, o)
}

const job = (s: Signal) => testJob(s, 'tiktok')
const many = (n: number) => Array.from({ length: n }, (_, i) => signal({ id: `sig-${i}` }))

describe('tiktok payload and error table', () => {
  test('mapping: defaults, config, globs, "" never', () => {
    const name = (n: string, map?: Record<string, string>) => resolveEventName(signal({ name: n }), map)
    assert.equal(name('call_connected'), 'Contact')
    assert.equal(name('qualified_call'), 'Lead')
    assert.equal(name('disposition:Sale'), 'CompletePayment')
    assert.equal(name('disposition:Appointment Set'), 'Schedule')
    assert.equal(name('closed_outcome'), 'CompletePayment')
    assert.equal(name('disposition:No Answer'), undefined)
    assert.equal(name('disposition:Callback', { 'disposition:*': 'SubmitForm' }), 'SubmitForm')
    assert.equal(name('call_connected', { call_connected: '' }), undefined)
  })

  test('consented user: SHA-256 email (trim+lowercase), E.164 phone with +, external_id; ttclid, ip, UA', () => {
    const built = buildTikTokEvent(signal(), { nowMs: Date.now() })
    assert.ok(built.ok)
    assert.deepEqual(built.event.user, {
      email: sha256Hex('jane.doe@example.com'),
      phone: sha256Hex('+12125550000'),
      external_id: sha256Hex('CUST-9'),
      ip: '203.0.113.7',
      ttclid: 'E.C.P.ttclid-1',
      user_agent: 'Mozilla/5.0',
    })
    assert.equal(built.event.event_id, 'sig-1')
    // an advertiser id keeps its case, as TikTok's own server-side template hashes it
    const mixed = buildTikTokEvent(
      signal({ event: { user_data: { customer_identifier: ' CRM-AbC123 ' } } }),
      {
        nowMs: Date.now(),
      },
    )
    assert.ok(mixed.ok)
    assert.equal(mixed.event.user.external_id, sha256Hex('CRM-AbC123'))
    assert.equal(normalizeTikTokPhone('020 7946 0958', 'GB'), '+442079460958')
  })

  test('no PII consent: only ttclid and user agent; LDU flag', () => {
    const built = buildTikTokEvent(signal({ consent: { pii: false, ldu: true } }), { nowMs: Date.now() })
    assert.ok(built.ok)
    assert.deepEqual(built.event.user, { ttclid: 'E.C.P.ttclid-1', user_agent: 'Mozilla/5.0' })
    assert.equal(built.event.limited_data_use, true)
  })

  test('match keys: consented PII reports the hashed keys with the click id, not the IP or user agent', () => {
    const built = buildTikTokEvent(signal(), { nowMs: Date.now() })
    assert.ok(built.ok)
    assert.deepEqual(matchKeysOf(built.event), ['email', 'external_id', 'phone', 'ttclid'])
  })

  test('match keys: without PII consent only the click ids (ttclid, ttp); nothing matchable → []', () => {
    const built = buildTikTokEvent(
      signal({
        consent: { pii: false },
        event: {
          user_data: { email_address: 'a@b.co' },
          ext: { click_ids: { ttclid: 'E.C.P.x', ttp: 'ttp-cookie-1' } as ClickIdentity },
        },
      }),
      { nowMs: Date.now() },
    )
    assert.ok(built.ok)
    assert.deepEqual(matchKeysOf(built.event), ['ttclid', 'ttp'])
    assert.deepEqual(matchKeysOf({ user: {} }), [])
    assert.deepEqual(matchKeysOf({ user: { email: [], ttclid: '' } }), [])
  })

  test('permanent before sending: unmapped, too old, no user key, purchase without value', () => {
    const code = (s: Signal) => {
      const b = buildTikTokEvent(s, { nowMs: Date.now() })
      return b.ok ? 'ok' : b.code
    }
    assert.equal(code(signal({ name: 'follow_up' })), 'TIKTOK_SIGNAL_NOT_MAPPED')
    assert.equal(code(signal({ occurredAt: nowS() - 8 * 86400 })), 'TIKTOK_EVENT_TOO_OLD')
    assert.equal(
      code(signal({ consent: { pii: false }, event: { user_data: {}, ext: {} } })),
      'TIKTOK_NO_USER',
    )
    assert.equal(code(signal({ name: 'disposition:Sale' })), 'TIKTOK_VALUE_MISSING')
    assert.equal(code(signal({ name: 'disposition:Sale', value: 99, currency: 'usd' })), 'ok')
  })

  test('error codes', () => {
    assert.equal(classifyTikTokCode(0), 'ok')
    assert.equal(classifyTikTokCode(40001), 'auth')
    assert.equal(classifyTikTokCode(40105), 'auth')
    assert.equal(classifyTikTokCode(40100), 'throttle')
    assert.equal(classifyTikTokCode(40002), 'invalid')
    assert.equal(classifyTikTokCode(50000), 'transient')
    assert.equal(classifyTikTokCode(40013), 'rejected')
    assert.equal(parseTikTokAnswer('<html>'), undefined)
  })
})

describe('tiktok against the Events API mock', () => {
  let tt: MockTikTok
  let http: HttpClient
  const ctx = (testMode = false) => testContext(http, testMode)
  const destination = (extra: Partial<TikTokConfig> & { batch_size?: number; access_token?: string } = {}) =>
    tiktokDestination.create('tiktok', {
      type: 'tiktok',
      access_token: TOKEN,
      event_source_id: ES,
      base_url: tt.url,
      allow_private: true,
      ...extra,
    })

  before(async () => {
    tt = await startMockTikTok({ tokens: [TOKEN], unprivilegedTokens: ['weak-token'], eventSets: [ES] })
    http = createHttpClient({ allowPrivate: true })
  })
  after(async () => {
    await http.close()
    await tt.close()
  })
  beforeEach(() => {
    tt.requests.length = 0
    tt.accepted.length = 0
  })

  test('success: Access-Token header, offline event set, outcomes in order, token redacted', async () => {
    const out = await destination().send(many(3).map(job), ctx())
    assert.deepEqual(
      out.map((o) => o.kind),
      ['delivered', 'delivered', 'delivered'],
    )
    assert.equal(out[0].code, 'TIKTOK_0')
    assert.match(out[0].message ?? '', /OK \[request_id /)
    assert.equal(tt.requests.length, 1)
    assert.equal(tt.requests[0].headers['access-token'], TOKEN)
    const body = tt.requests[0].body as { event_source: string; event_source_id: string }
    assert.equal(body.event_source, 'offline')
    assert.equal(body.event_source_id, ES)
    assert.deepEqual(
      tt.accepted.map((a) => a.event.event_id),
      ['sig-0', 'sig-1', 'sig-2'],
    )
    assert.ok(!JSON.stringify(out[0].exchange).includes(TOKEN))
  })

  test('batch_size splits requests; capped at 1,000', async () => {
    await destination({ batch_size: 2 }).send(many(5).map(job), ctx())
    assert.deepEqual(
      tt.requests.map((r) => (r.body as { data: unknown[] }).data.length),
      [2, 2, 1],
    )
  })

  test('invalid (40002 in HTTP 200) → the bad event isolated and permanent, the rest delivered', async () => {
    const batch = many(8)
    // passes our checks, fails TikTok's: a malformed IP (the ingest schema is trusted to have checked it)
    batch[5] = signal({
      id: 'bad',
      event: { user_data: { event_ip_address: '999.1.1.1' }, ext: { click_ids: { ttclid: 'x' } } },
    })
    const out = await destination().send(batch.map(job), ctx())
    assert.deepEqual(
      out.map((o, i) => (o.kind === 'delivered' ? 'ok' : i)),
      ['ok', 'ok', 'ok', 'ok', 'ok', 5, 'ok', 'ok'],
    )
    assert.equal(out[5].kind, 'permanent')
    assert.equal(out[5].code, 'TIKTOK_40002')
    assert.match(out[5].message ?? '', /user\.ip/)
    assert.equal(tt.accepted.length, 7)
    assert.equal(tt.requests.length, 3, 'named index: batch, the bad one alone, the rest')
  })

  test('throttling: 40100 in HTTP 200 → throttled, Retry-After kept, later batches not sent', async () => {
    tt.inject({ kind: 'rate_limit', retryAfterS: 20 })
    const out = await destination({ batch_size: 2 }).send(many(4).map(job), ctx())
    assert.deepEqual(
      out.map((o) => o.kind),
      ['throttled', 'throttled', 'throttled', 'throttled'],
    )
    assert.equal(out[0].code, 'TIKTOK_40100')
    assert.equal(out[0].retryAfterMs, 20_000)
    assert.match(out[2].message ?? '', /^not sent/)
    assert.equal(tt.requests.length, 1)
  })

  test('auth: wrong token (40105) and no permission on the event set (40001) → paused', async () => {
    const bad = await destination({ access_token: 'nope-token' }).send([job(signal())], ctx())
    assert.equal(bad[0].kind, 'paused')
    assert.equal(bad[0].code, 'TIKTOK_40105')
    const weak = await destination({ access_token: 'weak-token' }).send([job(signal())], ctx())
    assert.equal(weak[0].kind, 'paused')
    assert.equal(weak[0].code, 'TIKTOK_40001')
  })

  test('system error 50000 and HTTP 502 → retry', async () => {
    tt.inject({ kind: 'system_error' })
    const a = await destination().send([job(signal())], ctx())
    assert.equal(a[0].kind, 'retry')
    tt.inject({ kind: 'http_error', status: 502 })
    const b = await destination().send([job(signal())], ctx())
    assert.equal(b[0].kind, 'retry')
    assert.equal(b[0].code, 'HTTP_502')
  })

  test('consent: without PII consent no email, phone, external_id or IP reach TikTok', async () => {
    await destination().send([job(signal({ consent: { pii: false } }))], ctx())
    const user = tt.accepted[0].event.user as Record<string, unknown>
    assert.deepEqual(Object.keys(user).sort(), ['ttclid', 'user_agent'])
    const raw = JSON.stringify(tt.requests[0].body)
    for (const s of [sha256Hex('jane.doe@example.com'), sha256Hex('+12125550000'), '203.0.113.7'])
      assert.ok(!raw.includes(s), s)
  })

  test('match keys: each outcome names the user keys TikTok received, a rejected event’s too', async () => {
    const batch = [
      signal({ id: 'full' }),
      signal({ id: 'nopii', consent: { pii: false } }),
      signal({
        id: 'bad',
        event: { user_data: { event_ip_address: '999.1.1.1' }, ext: { click_ids: { ttclid: 'x' } } },
      }),
      signal({ id: 'unmapped', name: 'follow_up' }),
    ]
    const out = await destination().send(batch.map(job), ctx())
    assert.deepEqual(
      out.map((o) => [o.kind, o.matchKeys]),
      [
        ['delivered', ['email', 'external_id', 'phone', 'ttclid']],
        ['delivered', ['ttclid']],
        ['permanent', ['ttclid']],
        ['permanent', undefined],
      ],
    )
    // TikTok received those keys, and the IP and user agent, which identify nobody (see presentKeys)
    assert.deepEqual(
      tt.accepted.map((a) =>
        Object.keys(a.event.user as object)
          .filter((k) => k !== 'ip' && k !== 'user_agent')
          .sort(),
      ),
      out.slice(0, 2).map((o) => o.matchKeys),
    )
    assert.deepEqual(
      tt.accepted.map((a) => [
        Boolean((a.event.user as { ip?: string }).ip),
        Boolean((a.event.user as { user_agent?: string }).user_agent),
      ]),
      [
        [true, true],
        [false, true],
      ],
    )
  })

  test('test mode: test_event_code sent; refused without one', async () => {
    const out = await destination({ test_event_code: 'TEST42' }).send([job(signal())], ctx(true))
    assert.equal(out[0].kind, 'delivered')
    assert.equal(tt.accepted[0].testEventCode, 'TEST42')
    const live = await destination({ test_event_code: 'TEST42' }).send([job(signal({ id: 'x' }))], ctx())
    assert.equal(live[0].kind, 'delivered')
    assert.equal((tt.requests[1].body as { test_event_code?: string }).test_event_code, undefined)
    const refused = await destination().send([job(signal())], ctx(true))
    assert.equal(refused[0].code, 'TIKTOK_TEST_CODE_MISSING')
    assert.equal(tt.requests.length, 2)
  })
})
