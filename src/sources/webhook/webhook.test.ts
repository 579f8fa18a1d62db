import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { EcapiEvent } from '../../model/ecapi.ts'
import { isAppError } from '../../model/errors.ts'
import { validator } from '../../model/validate.ts'
import type { SourceRequest } from '../contract.ts'
import { applyFieldMap, type FieldMap } from './fieldmap.ts'
import { checkWebhookConfig, type WebhookSourceConfig, webhookSource } from './index.ts'

const NOW = Date.parse('2025-05-06T18:00:00Z')
const SECRET = 'webhook-secret-0123456789'
const sample = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`./presets/${name}.sample.json`, import.meta.url), 'utf8'))
const checkEvent = validator(EcapiEvent)

function post(
  body: unknown,
  opts: { headers?: Record<string, string>; query?: Record<string, string>; raw?: string } = {},
): SourceRequest {
  const qs = new URLSearchParams(opts.query ?? {}).toString()
  return {
    method: 'POST',
    url: `/v1/sources/wh/webhook${qs ? `?${qs}` : ''}`,
    publicUrl: `https://hooks.acme.example/v1/sources/wh/webhook${qs ? `?${qs}` : ''}`,
    query: opts.query ?? {},
    headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
    rawBody: opts.raw ?? JSON.stringify(body),
    body,
    remoteIp: '198.51.100.20',
    now: NOW,
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

const tokenHeaders = { 'x-closeloop-token': SECRET }
const read = (req: SourceRequest, cfg: WebhookSourceConfig) => {
  const events = webhookSource.read(req, cfg, 'wh')
  for (const ev of events)
    assert.deepEqual(checkEvent(ev), [], 'every event validates against the ECAPI schema')
  return events
}

describe('field map', () => {
  const input = (
    root: unknown,
    query: Record<string, string> = {},
    headers: Record<string, string> = {},
  ) => ({
    root,
    query,
    headers,
  })
  const opts = { region: 'US' }

  test('paths, alternatives, constants, query and header sources', () => {
    const map: FieldMap = {
      call_id: 'call.uuid | callId',
      caller: 'legs.0.from',
      campaign: { const: 'spring' },
      status: '$query.event',
      attestation: '$header.X-Attest',
    }
    const out = applyFieldMap(
      map,
      input(
        { callId: 'C1', legs: [{ from: '(212) 555-0000' }] },
        { event: 'connected' },
        { 'x-attest': 'A' },
      ),
      opts,
    )
    assert.deepEqual(out, {
      call_id: 'C1',
      caller: '+12125550000',
      campaign: 'spring',
      status: 'answered',
      attestation: 'A',
    })
  })

  test('transforms and value maps', () => {
    const map: FieldMap = {
      duration_s: { path: 'ms', transform: 'ms_to_s' },
      started_at: { path: 'start', transform: 'iso_to_epoch' },
      status: { path: 'state', transform: 'lower', map: { up: 'answered', hungup: 'completed' } },
      converted: { path: 'sold', transform: 'bool' },
      revenue: 'amount',
      sequence: { path: 'seq', transform: 'integer' },
      disposition: { path: 'outcome', map: { '1': 'Sale', '2': 'Qualified Lead', '9': null } },
      tier: { path: 'tier', transform: 'upper' },
    }
    const out = applyFieldMap(
      map,
      input({
        ms: 135000,
        start: '2025-05-06T17:00:00Z',
        state: 'UP',
        sold: 'yes',
        amount: '$1,050.25',
        seq: '3',
        outcome: 2,
        tier: 'gold',
      }),
      opts,
    )
    assert.deepEqual(out, {
      duration_s: 135,
      started_at: Date.parse('2025-05-06T17:00:00Z') / 1000,
      status: 'answered',
      converted: true,
      revenue: 1050.25,
      sequence: 3,
      disposition: 'Qualified Lead',
      tier: 'GOLD',
    })
    assert.deepEqual(applyFieldMap(map, input({ outcome: '9' }), opts), {})
  })

  test('a default applies when the path is absent', () => {
    assert.deepEqual(applyFieldMap({ status: { path: 'x', default: 'completed' } }, input({}), opts), {
      status: 'completed',
    })
  })

  test('errors name the payload field', () => {
    const cases: [FieldMap, unknown, string][] = [
      [{ duration_s: 'callLengthInSeconds' }, { callLengthInSeconds: 'long' }, '/callLengthInSeconds'],
      [{ duration_s: { path: 'd', transform: 'number' } }, { d: 'NaN' }, '/d'],
      [{ status: 'call.state' }, { call: { state: 'exploded' } }, '/call/state'],
      [{ revenue: 'money' }, { money: { amount: 5 } }, '/money'],
      [{ started_at: 'when' }, { when: 'the other day' }, '/when'],
      [{ call_id: 'id' }, { id: 'x'.repeat(5000) }, '/id'],
      [{ currency: 'cur' }, { cur: 'dollars' }, '/cur'],
      [{ event_type: 'et' }, { et: 'mega_purchase' }, '/et'],
      [{ converted: 'c' }, { c: 'maybe' }, '/c'],
    ]
    for (const [map, root, path] of cases)
      rejects(() => applyFieldMap(map, input(root), opts), 'E_INPUT_INVALID', path)
  })

  test('hostile shapes never throw a TypeError', () => {
    const map: FieldMap = {
      call_id: 'a.b.c | __proto__.x | constructor | 0',
      caller: 'a',
      revenue: 'r.0',
      ended_at: 'e',
    }
    const roots: unknown[] = [
      null,
      [],
      'str',
      42,
      { a: [1, 2] },
      { a: { b: null } },
      { r: [] },
      { e: {} },
      JSON.parse('{"__proto__":{"x":"polluted"}}'),
      { a: 'x'.repeat(1_000_000) },
    ]
    for (const root of roots) {
      try {
        applyFieldMap(map, input(root), opts)
      } catch (err) {
        assert.ok(isAppError(err), `${JSON.stringify(root)?.slice(0, 40)}: ${String(err)}`)
      }
    }
    assert.equal(({} as Record<string, unknown>).x, undefined)
  })
})

describe('webhook presets map their sample payloads', () => {
  test('ringba', () => {
    const [ev] = read(post(sample('ringba'), { headers: tokenHeaders }), {
      type: 'webhook',
      preset: 'ringba',
      secret: SECRET,
    })
    // hasConverted: the buyer's conversion rule was met, a `Converted` disposition (the shipped Sale)
    assert.equal(ev.event_type, 'close_convert_lead')
    assert.equal(ev.timestamp, 1746554597)
    assert.equal('id' in ev, false)
    assert.deepEqual(ev.ext?.call, {
      call_id: 'RGB3F0C9A1E2B4C5D6E7F8091A2B3C4D5E6',
      platform: 'ringba',
      status: 'completed',
      disposition: 'Converted',
      caller: '+12125550000',
      tracking_number: '+18885550123',
      campaign: 'Medicare - Inbound',
      started_at: 1746554400,
      answered_at: 1746554412,
      ended_at: 1746554597,
      duration_s: 185,
      revenue: 45,
      payout: 30,
      ext: {
        converted: true,
        answered: true,
        duplicate: false,
        publisher: 'Acme Media',
        target: 'Blue Cross Call Center',
      },
    })
    assert.deepEqual(ev.ext?.click_ids, { gclid: 'Cj0KCQjwRingbaSampleGclid' })
  })

  test('ringba: the Converted trigger carries money without a status', () => {
    const body = { ...sample('ringba'), event: 'Converted' }
    const [ev] = read(post(body, { headers: tokenHeaders }), {
      type: 'webhook',
      preset: 'ringba',
      secret: SECRET,
    })
    assert.equal(ev.ext?.call?.status, undefined)
    assert.equal(ev.ext?.call?.revenue, 45)
    assert.equal(ev.timestamp, NOW / 1000)
  })

  test('ringba: Finalized for a call that never connected is no answer, and a 0 time is no time', () => {
    const body = {
      ...sample('ringba'),
      event: 'Finalized',
      hasConnected: 'false',
      hasConverted: 'false',
      callConnectionDt: 0,
    }
    const [ev] = read(post(body, { headers: tokenHeaders }), {
      type: 'webhook',
      preset: 'ringba',
      secret: SECRET,
    })
    assert.equal(ev.ext?.call?.status, 'no_answer')
    assert.equal(ev.ext?.call?.answered_at, undefined)
    assert.equal(ev.ext?.call?.disposition, undefined)
  })

  test('retreaver', () => {
    const [ev] = read(post(sample('retreaver'), { query: { token: SECRET } }), {
      type: 'webhook',
      preset: 'retreaver',
      secret: SECRET,
    })
    assert.deepEqual(ev.ext?.call, {
      call_id: '9f8e7d6c-5b4a-4392-8170-6e5d4c3b2a19',
      platform: 'retreaver',
      status: 'completed',
      disposition: 'Converted',
      caller: '+13125550111',
      tracking_number: '+18445550188',
      campaign: 'Final Expense',
      started_at: Date.parse('2025-05-06T17:00:00Z') / 1000,
      answered_at: Date.parse('2025-05-06T17:00:09Z') / 1000,
      ended_at: Date.parse('2025-05-06T17:03:24Z') / 1000,
      duration_s: 204,
      revenue: 60,
      payout: 40,
      ext: { converted: true, publisher: 'pub-77', buyer_number: '+17735550142' },
    })
    assert.equal(ev.timestamp, Date.parse('2025-05-06T17:03:24Z') / 1000)
  })

  test('retreaver: the nested Call API shape', () => {
    const body = { call: { uuid: 'u-1', caller_number: '3125550111', status: 'answered', revenue: '12' } }
    const [ev] = read(post(body, { headers: tokenHeaders }), {
      type: 'webhook',
      preset: 'retreaver',
      secret: SECRET,
    })
    assert.equal(ev.ext?.call?.call_id, 'u-1')
    assert.equal(ev.ext?.call?.status, 'answered')
    assert.equal(ev.ext?.call?.caller, '+13125550111')
  })

  test('callrail: HMAC-SHA1 base64 Signature over the raw body', () => {
    const raw = JSON.stringify(sample('callrail'))
    const signature = createHmac('sha1', SECRET).update(raw).digest('base64')
    const cfg: WebhookSourceConfig = { type: 'webhook', preset: 'callrail', secret: SECRET }
    const req = post(sample('callrail'), { headers: { signature }, query: { event: 'post_call' }, raw })
    const [ev] = read(req, cfg)
    const start = Date.parse('2025-05-06T13:00:05.000-04:00') / 1000
    assert.deepEqual(ev.ext?.call, {
      call_id: 'CAL8154748ae6bd4e278a7cddd38a662f4f',
      platform: 'callrail',
      status: 'completed',
      caller: '+14705550123',
      tracking_number: '+14045550199',
      campaign: 'spring-roofing',
      started_at: start,
      ended_at: start + 312,
      duration_s: 312,
      disposition: 'Qualified Lead',
      revenue: 350,
      ext: { answered: true, first_call: true, source: 'Google Ads' },
    })
    assert.equal(ev.event_type, 'qualify_lead')
    assert.deepEqual(ev.ext?.click_ids, { gclid: 'EAIaIQobChMICallRailSample' })
    rejects(() => read({ ...req, rawBody: raw.replace('312', '313') }, cfg), 'E_SOURCE_SIGNATURE')
    rejects(
      () =>
        read(
          {
            ...req,
            headers: { signature: createHmac('sha1', 'other-key-000').update(raw).digest('base64') },
          },
          cfg,
        ),
      'E_SOURCE_SIGNATURE',
    )
    rejects(() => read({ ...req, headers: {} }, cfg), 'E_SOURCE_SIGNATURE')
  })

  test('callrail: an unanswered Post-Call is a missed call; a Pre-Call is ringing', () => {
    const body = { ...sample('callrail'), answered: false, duration: 0, lead_status: null }
    const raw = JSON.stringify(body)
    const signature = createHmac('sha1', SECRET).update(raw).digest('base64')
    const cfg: WebhookSourceConfig = { type: 'webhook', preset: 'callrail', secret: SECRET }
    assert.equal(
      read(post(body, { headers: { signature }, query: { event: 'post_call' }, raw }), cfg)[0].ext?.call
        ?.status,
      'no_answer',
    )
    assert.equal(
      read(post(body, { headers: { signature }, query: { event: 'pre_call' }, raw }), cfg)[0].ext?.call
        ?.status,
      'ringing',
    )
  })

  test('invoca', () => {
    const [ev] = read(post(sample('invoca'), { headers: tokenHeaders }), {
      type: 'webhook',
      preset: 'invoca',
      secret: SECRET,
    })
    assert.equal(ev.event_type, 'close_convert_lead')
    assert.deepEqual(ev.ext?.call, {
      call_id: '0A1B2C3D-4E5F6A7B',
      platform: 'invoca',
      status: 'completed',
      caller: '+16025550147',
      tracking_number: '+18665550100',
      campaign: 'Auto Insurance - Search',
      started_at: 1746550800,
      ended_at: 1746550800 + 241,
      duration_s: 241,
      disposition: 'Sale',
      revenue: 1280,
      payout: 25,
      ext: { advertiser_payin: '35.00', connect_duration_s: '226' },
    })
  })

  test('a config map overrides a preset entry, null removes one', () => {
    const cfg: WebhookSourceConfig = {
      type: 'webhook',
      preset: 'ringba',
      secret: SECRET,
      map: { campaign: { const: 'medicare-2025' }, payout: null, gclid: 'customGclid' },
    }
    const [ev] = read(
      post({ ...sample('ringba'), customGclid: 'G-OVERRIDE' }, { headers: tokenHeaders }),
      cfg,
    )
    assert.equal(ev.ext?.call?.campaign, 'medicare-2025')
    assert.equal(ev.ext?.call?.payout, undefined)
    assert.equal(ev.ext?.click_ids?.gclid, 'G-OVERRIDE')
  })
})

describe('webhook source: generic map', () => {
  const cfg: WebhookSourceConfig = {
    type: 'webhook',
    secret: SECRET,
    data_set_id: 'acme',
    campaigns: { '800-555-0100': 'mortgage-ny' },
    map: {
      call_id: 'callId',
      caller: 'inboundPhoneNumber | phone',
      tracking_number: 'dnis',
      duration_s: { path: 'callLengthInSeconds', transform: 'number' },
      status: { path: 'status', map: { connected: 'answered' } },
      event_id: 'eventId',
      value: 'amount',
      email: 'email',
    },
  }

  test('maps a JSON payload, with an explicit event id and value', () => {
    const [ev] = read(
      post(
        {
          callId: 'X1',
          phone: '2125550000',
          dnis: '8005550100',
          callLengthInSeconds: '95',
          status: 'connected',
          eventId: 'e-1',
          amount: 20,
          email: 'a@b.example',
        },
        { headers: tokenHeaders },
      ),
      cfg,
    )
    assert.equal(ev.id, 'e-1')
    assert.equal(ev.data_set_id, 'acme')
    assert.equal(ev.value, 20)
    assert.equal(ev.currency_code, 'USD')
    assert.deepEqual(ev.user_data, { email_address: 'a@b.example' })
    assert.equal(ev.ext?.call?.campaign, 'mortgage-ny')
    assert.equal(ev.ext?.call?.status, 'answered')
    assert.equal(ev.ext?.call?.duration_s, 95)
  })

  test('form bodies and GET queries map the same way', () => {
    const form = { callId: 'X2', status: 'completed', callLengthInSeconds: '10' }
    const byForm = read(
      { ...post(form, { headers: tokenHeaders }), rawBody: new URLSearchParams(form).toString() },
      cfg,
    )
    const byGet = read(
      {
        ...post(undefined, { headers: tokenHeaders }),
        method: 'GET',
        query: form,
        rawBody: '',
        body: undefined,
      },
      cfg,
    )
    assert.deepEqual(byForm, byGet)
  })

  test('missing call id → 400 at the mapped path; non-object bodies → 400 /', () => {
    rejects(
      () => read(post({ status: 'connected' }, { headers: tokenHeaders }), cfg),
      'E_INPUT_INVALID',
      '/callId',
    )
    rejects(() => read(post([{ callId: 'X' }], { headers: tokenHeaders }), cfg), 'E_INPUT_INVALID', '/')
    rejects(() => read(post('callId=X', { headers: tokenHeaders }), cfg), 'E_INPUT_INVALID', '/')
    rejects(
      () => read(post({ callId: 'X', status: 'on-fire' }, { headers: tokenHeaders }), cfg),
      'E_INPUT_INVALID',
      '/status',
    )
  })

  test('auth: missing/invalid token, none configured, explicit none, allowlist only', () => {
    rejects(() => read(post({ callId: 'X' }), cfg), 'E_AUTH_MISSING')
    rejects(
      () => read(post({ callId: 'X' }, { headers: { 'x-closeloop-token': 'wrong' } }), cfg),
      'E_AUTH_INVALID',
    )
    rejects(
      () => read(post({ callId: 'X' }, { query: { token: SECRET } }), { ...cfg, token_param: false }),
      'E_AUTH_MISSING',
    )
    const { secret: _s, ...noSecret } = cfg
    rejects(() => read(post({ callId: 'X' }), noSecret), 'E_AUTH_MISSING')
    assert.equal(read(post({ callId: 'X' }), { ...noSecret, auth: 'none' }).length, 1)
    assert.equal(read(post({ callId: 'X' }), { ...noSecret, allow_ips: ['198.51.100.0/24'] }).length, 1)
    rejects(() => read(post({ callId: 'X' }), { ...noSecret, allow_ips: ['2001:db8::/32'] }), 'E_SOURCE_IP')
  })

  test('generic HMAC-SHA256 auth', () => {
    const body = { callId: 'X3' }
    const raw = JSON.stringify(body)
    const sig = createHmac('sha256', SECRET).update(raw).digest('hex')
    const hcfg: WebhookSourceConfig = { ...cfg, auth: 'hmac' }
    assert.equal(read(post(body, { headers: { 'x-closeloop-signature': sig } }), hcfg).length, 1)
    rejects(
      () => read(post(body, { headers: { 'x-closeloop-signature': sig.replace(/^./, '0') } }), hcfg),
      'E_SOURCE_SIGNATURE',
    )
  })

  test('a signed POST with an empty body is refused: the HMAC of nothing would sign any query', () => {
    const hcfg: WebhookSourceConfig = { ...cfg, auth: 'hmac' }
    const sig = createHmac('sha256', SECRET).update('').digest('hex')
    rejects(
      () =>
        read(
          post(undefined, {
            raw: '',
            headers: { 'x-closeloop-signature': sig },
            query: { callId: 'X4', event: 'completed', hasConverted: 'true' },
          }),
          hcfg,
        ),
      'E_INPUT_INVALID',
      '/',
    )
    // a token-authenticated source may still send its payload as the query of an empty POST
    const q = { callId: 'X5' }
    assert.equal(
      read(post(undefined, { raw: '', query: q, headers: { 'x-closeloop-token': SECRET } }), cfg).length,
      1,
    )
  })

  test('checkWebhookConfig reports what the schema cannot', () => {
    assert.deepEqual(checkWebhookConfig({ type: 'webhook', preset: 'ringba', secret: SECRET }), [])
    assert.equal(checkWebhookConfig({ type: 'webhook' }).length, 2)
  })
})
