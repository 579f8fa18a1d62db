import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, test } from 'node:test'
import { isAppError } from '../../model/errors.ts'
import type { SourceRequest } from '../contract.ts'
import { checkPostbackConfig, type PostbackSourceConfig, postbackSource } from './index.ts'

const NOW = Date.parse('2025-05-06T18:00:00Z')
const TOKEN = 'cc-token-0123456789'
const config: PostbackSourceConfig = { type: 'postback', token: TOKEN, data_set_id: 'acme' }

function get(query: Record<string, string>, headers: Record<string, string> = {}): SourceRequest {
  const qs = new URLSearchParams(query).toString()
  return {
    method: 'GET',
    url: `/v1/sources/cc/postback?${qs}`,
    publicUrl: `https://hooks.acme.example/v1/sources/cc/postback?${qs}`,
    query,
    headers,
    rawBody: '',
    body: undefined,
    remoteIp: '203.0.113.9',
    now: NOW,
  }
}

function postJson(body: unknown, headers: Record<string, string> = {}): SourceRequest {
  const rawBody = JSON.stringify(body)
  return {
    method: 'POST',
    url: '/v1/sources/cc/postback',
    publicUrl: 'https://hooks.acme.example/v1/sources/cc/postback',
    query: {},
    headers: { 'content-type': 'application/json', ...headers },
    rawBody,
    body,
    remoteIp: '203.0.113.9',
    now: NOW,
  }
}

function postForm(fields: Record<string, string>, headers: Record<string, string> = {}): SourceRequest {
  return {
    ...postJson(fields, headers),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    rawBody: new URLSearchParams(fields).toString(),
  }
}

function rejects(fn: () => unknown, code: string, path?: string) {
  try {
    fn()
  } catch (err) {
    assert.ok(isAppError(err), `expected an AppError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (path)
      assert.ok(
        err.details.some((d) => d.path === path),
        JSON.stringify(err.details),
      )
    return
  }
  assert.fail(`expected ${code}`)
}

const read = (req: SourceRequest, cfg: PostbackSourceConfig = config) => postbackSource.read(req, cfg, 'cc')

describe('postback source: mapping', () => {
  test('GET disposition with value → close_convert_lead', () => {
    const [ev] = read(
      get({
        token: TOKEN,
        call_id: 'CA123',
        disposition: 'Sale',
        value: '250.00',
        currency: 'usd',
        caller: '2125550000',
      }),
    )
    assert.deepEqual(ev, {
      data_set_id: 'acme',
      timestamp: NOW / 1000,
      event_type: 'close_convert_lead',
      source: 'phone_call',
      value: 250,
      currency_code: 'USD',
      ext: { call: { call_id: 'CA123', platform: 'postback', disposition: 'Sale', caller: '+12125550000' } },
    })
  })

  test('the shipped disposition defaults, and per-source overrides', () => {
    const type = (disposition: string, cfg = config) =>
      read(get({ token: TOKEN, call_id: 'CA1', disposition }), cfg)[0].event_type
    assert.equal(type('Sale'), 'close_convert_lead')
    assert.equal(type('Qualified Lead'), 'qualify_lead')
    assert.equal(type('Appointment Set'), 'schedule')
    assert.equal(type('No Answer'), 'contact')
    assert.equal(type('Existing Customer'), 'contact')
    assert.equal(type('Policy Bound', { ...config, event_types: { 'Policy Bound': 'purchase' } }), 'purchase')
  })

  test('POST JSON: revenue and payout separate, explicit event id, ISO timestamp, click ids', () => {
    const [ev] = read(
      postJson(
        {
          call_id: 'CA9',
          disposition: 'Sale',
          revenue: '$1,200.50',
          payout: 45,
          event_id: 'crm-7781',
          timestamp: '2025-05-06T17:00:00Z',
          gclid: 'Cj0KCQ-abc',
          campaign: 'mortgage-ny',
        },
        { authorization: `Bearer ${TOKEN}` },
      ),
    )
    assert.equal(ev.id, 'crm-7781')
    assert.equal(ev.timestamp, Date.parse('2025-05-06T17:00:00Z') / 1000)
    assert.equal(ev.value, undefined, 'revenue is not the event value; rules decide')
    assert.deepEqual(ev.ext?.call, {
      call_id: 'CA9',
      platform: 'postback',
      disposition: 'Sale',
      revenue: 1200.5,
      payout: 45,
      campaign: 'mortgage-ny',
    })
    assert.deepEqual(ev.ext?.click_ids, { gclid: 'Cj0KCQ-abc' })
  })

  test('POST form with the token in the custom header; no event id unless sent', () => {
    const [ev] = read(
      postForm({ call_id: 'CA2', disposition: 'Qualified Lead' }, { 'x-closeloop-token': TOKEN }),
    )
    assert.equal(ev.event_type, 'qualify_lead')
    assert.equal('id' in ev, false)
  })

  test('an amount without a disposition is a conversion; currency defaults from config', () => {
    const [ev] = read(get({ token: TOKEN, call_id: 'CA3', value: '99' }), { ...config, currency: 'EUR' })
    assert.equal(ev.event_type, 'close_convert_lead')
    assert.equal(ev.currency_code, 'EUR')
  })

  test('params renames a network’s fixed names', () => {
    const cfg = { ...config, params: { call_id: 'subid | call_uuid', value: 'payout_amount' } }
    const [ev] = read(
      get({ token: TOKEN, call_uuid: 'rtv-1', disposition: 'Sale', payout_amount: '30' }),
      cfg,
    )
    assert.equal(ev.ext?.call?.call_id, 'rtv-1')
    assert.equal(ev.value, 30)
  })

  test('data_set_id defaults to the source name; epoch ms timestamps are read as ms', () => {
    const [ev] = read(
      get({ token: TOKEN, call_id: 'CA4', disposition: 'Sale', timestamp: String(NOW - 60_000) }),
      {
        type: 'postback',
        token: TOKEN,
      },
    )
    assert.equal(ev.data_set_id, 'cc')
    assert.equal(ev.timestamp, NOW / 1000 - 60)
  })
})

describe('postback source: bad input', () => {
  test('a disposition without call_id → 400 /call_id', () => {
    rejects(() => read(get({ token: TOKEN, disposition: 'Sale' })), 'E_INPUT_INVALID', '/call_id')
  })

  test('neither disposition nor amount → 400 /disposition', () => {
    rejects(() => read(get({ token: TOKEN, call_id: 'CA1' })), 'E_INPUT_INVALID', '/disposition')
  })

  test('malformed fields name their path', () => {
    const base = { token: TOKEN, call_id: 'CA1', disposition: 'Sale' }
    rejects(() => read(get({ ...base, value: 'lots' })), 'E_INPUT_INVALID', '/value')
    rejects(() => read(get({ ...base, revenue: '12.3.4' })), 'E_INPUT_INVALID', '/revenue')
    rejects(() => read(get({ ...base, currency: 'dollars' })), 'E_INPUT_INVALID', '/currency')
    rejects(() => read(get({ ...base, timestamp: 'soon' })), 'E_INPUT_INVALID', '/timestamp')
    rejects(() => read(get({ ...base, call_id: 'x'.repeat(1_000_000) })), 'E_INPUT_INVALID', '/call_id')
    rejects(() => read(get({ ...base, disposition: 'd'.repeat(256) })), 'E_INPUT_INVALID', '/disposition')
  })

  test('weird JSON shapes are 400s, never TypeErrors', () => {
    const h = { authorization: `Bearer ${TOKEN}` }
    rejects(() => read(postJson([{ call_id: 'CA1' }], h)), 'E_INPUT_INVALID', '/')
    rejects(() => read(postJson('call_id=CA1', h)), 'E_INPUT_INVALID', '/')
    rejects(
      () => read(postJson({ call_id: { $gt: '' }, disposition: 'Sale' }, h)),
      'E_INPUT_INVALID',
      '/call_id',
    )
    rejects(
      () => read(postJson({ call_id: ['a', 'b'], disposition: 'Sale' }, h)),
      'E_INPUT_INVALID',
      '/call_id',
    )
    rejects(
      () => read(postJson({ call_id: 'CA1', disposition: 'Sale', value: [1, 2] }, h)),
      'E_INPUT_INVALID',
      '/value',
    )
    rejects(
      () => read(postJson({ call_id: 'CA1', disposition: 'Sale', value: Number.POSITIVE_INFINITY }, h)),
      'E_INPUT_INVALID',
      '/value',
    )
    rejects(
      () => read(postJson({ __proto__: { call_id: 'x' }, disposition: 'Sale' }, h)),
      'E_INPUT_INVALID',
      '/call_id',
    )
    rejects(
      () => read(postJson(JSON.parse('{"constructor":"CA1","disposition":"Sale"}'), h)),
      'E_INPUT_INVALID',
      '/call_id',
    )
  })

  test('an unreadable caller is dropped, not fatal', () => {
    const [ev] = read(get({ token: TOKEN, call_id: 'CA1', disposition: 'Sale', caller: 'not a phone' }))
    assert.equal(ev.ext?.call?.caller, undefined)
    // a SIP URI is read by its user part; anything over 64 characters is dropped, never a 400 for the sale
    const sip = 'sip:+12125550000@trunk.carrier.example;user=phone;transport=udp;x-long-parameter=aaaaaaaa'
    const [bySip] = read(get({ token: TOKEN, call_id: 'CA1', disposition: 'Sale', caller: sip }))
    assert.equal(bySip.ext?.call?.caller, '+12125550000')
    const [long] = read(get({ token: TOKEN, call_id: 'CA1', disposition: 'Sale', caller: '1'.repeat(80) }))
    assert.equal(long.ext?.call?.caller, undefined)
    assert.equal(long.ext?.call?.disposition, 'Sale')
  })
})

describe('postback source: authentication', () => {
  const q = { call_id: 'CA1', disposition: 'Sale' }

  test('token: missing → E_AUTH_MISSING, wrong → E_AUTH_INVALID', () => {
    rejects(() => read(get(q)), 'E_AUTH_MISSING')
    rejects(() => read(get({ ...q, token: 'nope' })), 'E_AUTH_INVALID')
    rejects(() => read(get(q, { authorization: 'Bearer nope' })), 'E_AUTH_INVALID')
    assert.equal(read(get(q, { 'X-Closeloop-Token': TOKEN })).length, 1)
  })

  test('token_param: false refuses tokens in the URL', () => {
    rejects(() => read(get({ ...q, token: TOKEN }), { ...config, token_param: false }), 'E_AUTH_MISSING')
  })

  test('a source with no token, HMAC or allowlist refuses everything (fail closed)', () => {
    rejects(() => read(get(q), { type: 'postback' }), 'E_AUTH_MISSING')
    assert.equal(checkPostbackConfig({ type: 'postback' }).length, 1)
    assert.deepEqual(checkPostbackConfig(config), [])
  })

  test('HMAC-SHA256 of the raw body (POST) and of the query string (GET)', () => {
    const secret = 'hmac-secret-0123456789abcdef'
    const cfg: PostbackSourceConfig = { type: 'postback', hmac_secret: secret }
    const body = { call_id: 'CA1', disposition: 'Sale', value: 10 }
    const raw = JSON.stringify(body)
    const sig = createHmac('sha256', secret).update(raw).digest('hex')
    assert.equal(read(postJson(body, { 'x-closeloop-signature': sig }), cfg).length, 1)
    assert.equal(read(postJson(body, { 'x-closeloop-signature': `sha256=${sig}` }), cfg).length, 1)
    const b64 = createHmac('sha256', secret).update(raw).digest('base64')
    assert.equal(read(postJson(body, { 'x-closeloop-signature': b64 }), cfg).length, 1)
    rejects(
      () =>
        read(
          { ...postJson(body, { 'x-closeloop-signature': sig }), rawBody: raw.replace('10', '1000') },
          cfg,
        ),
      'E_SOURCE_SIGNATURE',
    )
    rejects(() => read(postJson(body), cfg), 'E_SOURCE_SIGNATURE')

    const req = get(q)
    const qs = req.url.slice(req.url.indexOf('?') + 1)
    const qsig = createHmac('sha256', secret).update(qs).digest('hex')
    assert.equal(read(get(q, { 'x-closeloop-signature': qsig }), cfg).length, 1)
    rejects(
      () => read(get({ ...q, value: '999' }, { 'x-closeloop-signature': qsig }), cfg),
      'E_SOURCE_SIGNATURE',
    )
  })

  test('a signed POST is read from its body alone: the unsigned query adds nothing; an empty body is refused', () => {
    const secret = 'hmac-secret-0123456789abcdef'
    const cfg: PostbackSourceConfig = { type: 'postback', hmac_secret: secret }
    const body = { call_id: 'CA1', payout: 5 }
    const sig = createHmac('sha256', secret).update(JSON.stringify(body)).digest('hex')
    const replayed = {
      ...postJson(body, { 'x-closeloop-signature': sig }),
      url: '/v1/sources/cc/postback?disposition=Sale&value=250000&gclid=ATTACKER',
      query: { disposition: 'Sale', value: '250000', gclid: 'ATTACKER' },
    }
    const [event] = read(replayed, cfg)
    assert.equal(event.value, undefined)
    assert.equal(event.ext?.call?.disposition, undefined)
    assert.equal(event.ext?.click_ids, undefined)
    const emptySig = createHmac('sha256', secret).update('').digest('hex')
    rejects(
      () =>
        read(
          { ...replayed, body: undefined, rawBody: '', headers: { 'x-closeloop-signature': emptySig } },
          cfg,
        ),
      'E_INPUT_INVALID',
      '/',
    )
  })

  test('token and HMAC together: both required', () => {
    const secret = 'hmac-secret-0123456789abcdef'
    const cfg = { ...config, hmac_secret: secret }
    const raw = JSON.stringify(q)
    const sig = createHmac('sha256', secret).update(raw).digest('hex')
    rejects(() => read(postJson(q, { 'x-closeloop-signature': sig }), cfg), 'E_AUTH_MISSING')
    assert.equal(
      read(postJson(q, { 'x-closeloop-signature': sig, 'x-closeloop-token': TOKEN }), cfg).length,
      1,
    )
  })

  test('IP allowlist: IPv4 and IPv6 CIDR, mapped IPv4, invalid entries never match', () => {
    const cfg: PostbackSourceConfig = {
      type: 'postback',
      allow_ips: ['203.0.113.0/24', '2001:db8:abcd::/48'],
    }
    assert.equal(read(get(q), cfg).length, 1)
    assert.equal(read({ ...get(q), remoteIp: '::ffff:203.0.113.200' }, cfg).length, 1)
    assert.equal(read({ ...get(q), remoteIp: '2001:db8:abcd:12::1' }, cfg).length, 1)
    rejects(() => read({ ...get(q), remoteIp: '198.51.100.1' }, cfg), 'E_SOURCE_IP')
    rejects(() => read({ ...get(q), remoteIp: '2001:db8:abce::1' }, cfg), 'E_SOURCE_IP')
    rejects(() => read({ ...get(q), remoteIp: 'garbage' }, cfg), 'E_SOURCE_IP')
    rejects(
      () => read(get(q), { type: 'postback', allow_ips: ['203.0.113.0/99', 'nonsense'] }),
      'E_SOURCE_IP',
    )
    // the allowlist is checked before the token, so a scanner learns nothing about tokens
    rejects(
      () => read({ ...get(q), remoteIp: '198.51.100.1' }, { ...config, allow_ips: ['203.0.113.0/24'] }),
      'E_SOURCE_IP',
    )
  })
})
