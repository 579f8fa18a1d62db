import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import twilio from 'twilio'
import { isAppError } from '../../model/errors.ts'
import type { SourceRequest } from '../contract.ts'
import { type TwilioSourceConfig, twilioSource } from './index.ts'
import { twilioSignature, urlCandidates, verifyTwilioSignature } from './signature.ts'

const TOKEN = 'f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c8'
const URL_ = 'https://hooks.acme.example/v1/sources/tw/twilio'
const NOW = Date.parse('2025-05-06T18:00:00Z')
const config: TwilioSourceConfig = { type: 'twilio', auth_token: TOKEN, data_set_id: 'acme' }

/** A real status callback's parameters (telephony-and-postbacks.md §1.1), answered inbound leg. */
const answered: Record<string, string> = {
  AccountSid: 'AC0123456789abcdef0123456789abcdef',
  ApiVersion: '2010-04-01',
  CallSid: 'CA0123456789abcdef0123456789abcdef',
  CallStatus: 'in-progress',
  CallbackSource: 'call-progress-events',
  Called: '+18005550100',
  Caller: '+12125550000',
  Direction: 'inbound',
  From: '+12125550000',
  SequenceNumber: '1',
  StirVerstat: 'TN-Validation-Passed-A',
  Timestamp: 'Tue, 06 May 2025 17:59:50 +0000',
  To: '+18005550100',
}

/** A signed form POST, signature produced by the official twilio package (the oracle). */
function signedPost(
  params: Record<string, string | string[]>,
  opts: { url?: string; token?: string } = {},
): SourceRequest {
  const url = opts.url ?? URL_
  // a repeated name is one pair per value, as Twilio would send it
  const rawBody = new URLSearchParams(
    Object.entries(params).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]])),
  ).toString()
  return {
    method: 'POST',
    url: new URL(url).pathname + new URL(url).search,
    publicUrl: url,
    query: {},
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilio.getExpectedTwilioSignature(opts.token ?? TOKEN, url, params),
    },
    rawBody,
    body: { ...params },
    remoteIp: '54.172.60.1',
    now: NOW,
  }
}

function rejects(fn: () => unknown, code: string, path?: string) {
  try {
    fn()
  } catch (err) {
    assert.ok(isAppError(err), `expected an AppError, got ${String(err)}`)
    assert.equal(err.code, code)
    if (path)
      assert.deepEqual(err.details.map((d) => d.path).includes(path), true, JSON.stringify(err.details))
    return
  }
  assert.fail(`expected ${code}`)
}

describe('twilio signature (oracle: the twilio npm package)', () => {
  test('published docs vector', () => {
    const params = {
      CallSid: 'CA1234567890ABCDE',
      Caller: '+12349013030',
      Digits: '1234',
      From: '+12349013030',
      To: '+18005551212',
    }
    const url = 'https://mycompany.com/myapp.php?foo=1&bar=2'
    assert.equal(twilioSignature('12345', url, params), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=')
    assert.equal(twilio.getExpectedTwilioSignature('12345', url, params), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=')
  })

  test('same signature as twilio for many parameter sets and URLs', () => {
    const urls = [
      URL_,
      `${URL_}?campaign=mortgage-ny&x=1`,
      'http://localhost:8787/v1/sources/tw/twilio',
      "https://a.example:8443/cb?name=O'Brien&q=a%20b",
      'https://[2001:db8::1]:8443/v1/sources/tw/twilio?v=1',
    ]
    const paramSets: Record<string, string>[] = [
      answered,
      {},
      { CallSid: 'CA1', Body: 'ünïcödé ✓ +1 & = ?' },
      { b: '2', a: '1', A: '0', _: 'x', 'a b': 'c' },
    ]
    for (const url of urls)
      for (const params of paramSets) {
        assert.equal(
          twilioSignature(TOKEN, url, params),
          twilio.getExpectedTwilioSignature(TOKEN, url, params),
        )
        const sig = twilio.getExpectedTwilioSignature(TOKEN, url, params)
        const rawBody = new URLSearchParams(params).toString()
        assert.equal(verifyTwilioSignature({ signature: sig, url, rawBody, json: false }, [TOKEN]), true, url)
        assert.equal(twilio.validateRequest(TOKEN, sig, url, params), true)
      }
  })

  test('repeated parameters are signed like twilio-node (distinct values, sorted)', () => {
    const params = { CallSid: 'CA1', StatusCallbackEvent: ['ringing', 'answered', 'ringing'] }
    const sig = twilio.getExpectedTwilioSignature(TOKEN, URL_, params)
    const rawBody =
      'CallSid=CA1&StatusCallbackEvent=ringing&StatusCallbackEvent=answered&StatusCallbackEvent=ringing'
    assert.equal(verifyTwilioSignature({ signature: sig, url: URL_, rawBody, json: false }, [TOKEN]), true)
  })

  test('URL signed with or without the default port both validate', () => {
    const params = { CallSid: 'CA1' }
    for (const signedUrl of ['https://a.example:443/cb?x=1', 'https://a.example/cb?x=1']) {
      const sig = twilio.getExpectedTwilioSignature(TOKEN, signedUrl, params)
      for (const received of ['https://a.example/cb?x=1', 'https://a.example:443/cb?x=1'])
        assert.equal(
          verifyTwilioSignature({ signature: sig, url: received, rawBody: 'CallSid=CA1', json: false }, [
            TOKEN,
          ]),
          twilio.validateRequest(TOKEN, sig, received, params),
        )
    }
    assert.deepEqual(urlCandidates('http://a.example/cb').slice(0, 2), [
      'http://a.example/cb',
      'http://a.example:80/cb',
    ])
  })

  test("quote escaping: ' and %27 validate like twilio-node", () => {
    const params = { CallSid: 'CA1' }
    const sig = twilio.getExpectedTwilioSignature(TOKEN, 'https://a.example/cb?n=O%27Brien', params)
    const received = "https://a.example/cb?n=O'Brien"
    assert.equal(twilio.validateRequest(TOKEN, sig, received, params), true)
    assert.equal(
      verifyTwilioSignature({ signature: sig, url: received, rawBody: 'CallSid=CA1', json: false }, [TOKEN]),
      true,
    )
  })

  test('JSON body through bodySHA256 (validateRequestWithBody)', () => {
    const body = JSON.stringify({ CallSid: 'CA9', CallStatus: 'completed', CallDuration: '42' })
    const url = `${URL_}?bodySHA256=${twilio.getExpectedBodyHash(body)}`
    const sig = twilio.getExpectedTwilioSignature(TOKEN, url, {})
    assert.equal(twilio.validateRequestWithBody(TOKEN, sig, url, body), true)
    assert.equal(verifyTwilioSignature({ signature: sig, url, rawBody: body, json: true }, [TOKEN]), true)
    assert.equal(
      verifyTwilioSignature({ signature: sig, url, rawBody: `${body} `, json: true }, [TOKEN]),
      false,
    )
    const req: SourceRequest = {
      method: 'POST',
      url: new URL(url).pathname + new URL(url).search,
      publicUrl: url,
      query: {},
      headers: { 'content-type': 'application/json', 'x-twilio-signature': sig },
      rawBody: body,
      body: JSON.parse(body),
      remoteIp: '127.0.0.1',
      now: NOW,
    }
    const [ev] = twilioSource.read(req, config, 'tw')
    assert.equal(ev.ext?.call?.status, 'completed')
    assert.equal(ev.ext?.call?.duration_s, 42)
    rejects(
      () => twilioSource.read({ ...req, rawBody: body.replace('42', '43') }, config, 'tw'),
      'E_SOURCE_SIGNATURE',
    )
  })

  test('GET callbacks: parameters live in the signed URL', () => {
    const url = `${URL_}?${new URLSearchParams(answered)}`
    const sig = twilio.getExpectedTwilioSignature(TOKEN, url, {})
    const req: SourceRequest = {
      method: 'GET',
      url: new URL(url).pathname + new URL(url).search,
      publicUrl: url,
      query: { ...answered },
      headers: { 'x-twilio-signature': sig },
      rawBody: '',
      body: undefined,
      remoteIp: '127.0.0.1',
      now: NOW,
    }
    assert.equal(twilioSource.read(req, config, 'tw')[0].ext?.call?.status, 'answered')
  })
})

describe('twilio source: authentication', () => {
  test('accepts a request signed by the twilio package', () => {
    assert.equal(twilioSource.read(signedPost(answered), config, 'tw').length, 1)
  })

  test('tampered body, URL or token → 401 E_SOURCE_SIGNATURE', () => {
    const req = signedPost(answered)
    rejects(
      () =>
        twilioSource.read({ ...req, rawBody: req.rawBody.replace('in-progress', 'completed') }, config, 'tw'),
      'E_SOURCE_SIGNATURE',
    )
    rejects(() => twilioSource.read({ ...req, publicUrl: `${URL_}?x=1` }, config, 'tw'), 'E_SOURCE_SIGNATURE')
    rejects(
      () => twilioSource.read({ ...req, publicUrl: URL_.replace('https', 'http') }, config, 'tw'),
      'E_SOURCE_SIGNATURE',
    )
    rejects(
      () => twilioSource.read(signedPost(answered, { token: 'wrong-token' }), config, 'tw'),
      'E_SOURCE_SIGNATURE',
    )
    rejects(
      () =>
        twilioSource.read(
          { ...req, headers: { ...req.headers, 'x-twilio-signature': undefined } },
          config,
          'tw',
        ),
      'E_SOURCE_SIGNATURE',
    )
    rejects(
      () =>
        twilioSource.read(
          { ...req, headers: { ...req.headers, 'x-twilio-signature': 'x'.repeat(100_000) } },
          config,
          'tw',
        ),
      'E_SOURCE_SIGNATURE',
    )
  })

  test('the secondary auth token validates during a rotation', () => {
    const req = signedPost(answered, { token: 'secondary-token-value' })
    rejects(() => twilioSource.read(req, config, 'tw'), 'E_SOURCE_SIGNATURE')
    assert.equal(
      twilioSource.read(req, { ...config, auth_token_secondary: 'secondary-token-value' }, 'tw').length,
      1,
    )
  })

  test('allow_ips: CIDR IPv4 and IPv6, 403 outside', () => {
    const req = signedPost(answered)
    assert.equal(twilioSource.read(req, { ...config, allow_ips: ['54.172.60.0/23'] }, 'tw').length, 1)
    assert.equal(
      twilioSource.read(
        { ...req, remoteIp: '::ffff:54.172.60.1' },
        { ...config, allow_ips: ['54.172.60.0/23'] },
        'tw',
      ).length,
      1,
    )
    assert.equal(
      twilioSource.read(
        { ...req, remoteIp: '2001:db8::5' },
        { ...config, allow_ips: ['2001:db8::/32'] },
        'tw',
      ).length,
      1,
    )
    rejects(() => twilioSource.read(req, { ...config, allow_ips: ['10.0.0.0/8'] }, 'tw'), 'E_SOURCE_IP')
  })
})

describe('twilio source: mapping', () => {
  test('answered inbound leg', () => {
    const [ev] = twilioSource.read(signedPost(answered), { ...config, campaign: 'mortgage-ny' }, 'tw')
    assert.deepEqual(ev, {
      data_set_id: 'acme',
      timestamp: Date.parse('2025-05-06T17:59:50Z') / 1000,
      event_type: 'contact',
      source: 'phone_call',
      ext: {
        call: {
          call_id: 'CA0123456789abcdef0123456789abcdef',
          status: 'answered',
          platform: 'twilio',
          sequence: 1,
          caller: '+12125550000',
          tracking_number: '+18005550100',
          campaign: 'mortgage-ny',
          answered_at: Date.parse('2025-05-06T17:59:50Z') / 1000,
          attestation: 'TN-Validation-Passed-A',
          ext: { direction: 'inbound', account_sid: 'AC0123456789abcdef0123456789abcdef' },
        },
      },
    })
    assert.equal('id' in ev, false, 'call status events carry no ECAPI id')
  })

  test('every CallStatus maps; completed carries duration and derived answer time', () => {
    const expected: Record<string, string> = {
      queued: 'initiated',
      initiated: 'initiated',
      ringing: 'ringing',
      'in-progress': 'answered',
      completed: 'completed',
      busy: 'busy',
      'no-answer': 'no_answer',
      failed: 'failed',
      canceled: 'canceled',
    }
    for (const [twilioStatus, status] of Object.entries(expected)) {
      const [ev] = twilioSource.read(signedPost({ ...answered, CallStatus: twilioStatus }), config, 'tw')
      assert.equal(ev.ext?.call?.status, status)
    }
    const [done] = twilioSource.read(
      signedPost({ ...answered, CallStatus: 'completed', CallDuration: '49', SequenceNumber: '3' }),
      config,
      'tw',
    )
    const ts = Date.parse('2025-05-06T17:59:50Z') / 1000
    assert.equal(done.ext?.call?.duration_s, 49)
    assert.equal(done.ext?.call?.ended_at, ts)
    assert.equal(done.ext?.call?.answered_at, ts - 49)
    const [ringing] = twilioSource.read(signedPost({ ...answered, CallStatus: 'ringing' }), config, 'tw')
    assert.equal(ringing.ext?.call?.started_at, ts)
  })

  test('a transfer leg joins its parent; the dialed agent is not the tracking number', () => {
    const leg = {
      ...answered,
      CallSid: 'CAchild000000000000000000000000000',
      ParentCallSid: answered.CallSid,
      Direction: 'outbound-dial',
      To: '+13105550199',
      Called: '+13105550199',
    }
    const call = twilioSource.read(signedPost(leg), config, 'tw')[0].ext?.call
    assert.equal(call?.parent_call_id, answered.CallSid)
    assert.equal(call?.caller, '+12125550000')
    assert.equal(call?.tracking_number, undefined)
    assert.equal(call?.ext?.dialed_number, '+13105550199')
  })

  test('outbound-api: the customer is To, our number From', () => {
    const call = twilioSource.read(
      signedPost({ ...answered, Direction: 'outbound-api', From: '+18005550100', To: '+12125550000' }),
      config,
      'tw',
    )[0].ext?.call
    assert.equal(call?.caller, '+12125550000')
    assert.equal(call?.tracking_number, '+18005550100')
  })

  test('campaign by tracking number, written in any format', () => {
    const cfg = { ...config, campaign: 'fallback', campaigns: { '(800) 555-0100': 'mortgage-ny' } }
    assert.equal(twilioSource.read(signedPost(answered), cfg, 'tw')[0].ext?.call?.campaign, 'mortgage-ny')
    const other = signedPost({ ...answered, To: '+18005550199', Called: '+18005550199' })
    assert.equal(twilioSource.read(other, cfg, 'tw')[0].ext?.call?.campaign, 'fallback')
  })

  test('anonymous callers, client: and sip: endpoints', () => {
    const anon = twilioSource.read(
      signedPost({ ...answered, From: 'anonymous', Caller: 'anonymous' }),
      config,
      'tw',
    )
    assert.equal(anon[0].ext?.call?.caller, undefined)
    const sip = twilioSource.read(
      signedPost({ ...answered, From: 'sip:+12125550000@acme.sip.twilio.com' }),
      config,
      'tw',
    )
    assert.equal(sip[0].ext?.call?.caller, '+12125550000')
    const client = twilioSource.read(signedPost({ ...answered, From: 'client:alice' }), config, 'tw')
    assert.equal(client[0].ext?.call?.caller, undefined)
  })

  test('data_set_id defaults to the source name; missing Timestamp uses receive time', () => {
    const { Timestamp: _ts, ...rest } = answered
    const [ev] = twilioSource.read(signedPost(rest), { type: 'twilio', auth_token: TOKEN }, 'twilio-main')
    assert.equal(ev.data_set_id, 'twilio-main')
    assert.equal(ev.timestamp, NOW / 1000)
  })

  test('bad input → 400 E_INPUT_INVALID with the field path', () => {
    const { CallSid: _sid, ...noSid } = answered
    rejects(() => twilioSource.read(signedPost(noSid), config, 'tw'), 'E_INPUT_INVALID', '/CallSid')
    rejects(
      () => twilioSource.read(signedPost({ ...answered, CallSid: 'x'.repeat(300) }), config, 'tw'),
      'E_INPUT_INVALID',
      '/CallSid',
    )
    rejects(
      () => twilioSource.read(signedPost({ ...answered, CallStatus: 'exploded' }), config, 'tw'),
      'E_INPUT_INVALID',
      '/CallStatus',
    )
    rejects(
      () => twilioSource.read(signedPost({ ...answered, SequenceNumber: '-1' }), config, 'tw'),
      'E_INPUT_INVALID',
      '/SequenceNumber',
    )
    rejects(
      () => twilioSource.read(signedPost({ ...answered, Timestamp: 'yesterday-ish' }), config, 'tw'),
      'E_INPUT_INVALID',
      '/Timestamp',
    )
    rejects(
      () => twilioSource.read(signedPost({ ...answered, CallDuration: '1e400' }), config, 'tw'),
      'E_INPUT_INVALID',
      '/CallDuration',
    )
  })

  test('a repeated form parameter → 400 E_INPUT_INVALID naming it (the signature covers both values)', () => {
    for (const [name, values] of [
      ['CallStatus', ['ringing', 'completed']],
      ['CallSid', ['CA0123456789abcdef0123456789abcdef', 'CAffffffffffffffffffffffffffffffff']],
      ['To', ['+18005550100', '+18005550100']],
    ] as const) {
      const req = signedPost({ ...answered, [name]: [...values] })
      assert.match(req.rawBody ?? '', new RegExp(`${name}=.*&${name}=`), 'the name is sent twice')
      // the twilio package accepts the signature: only the ambiguity is refused
      const params = Object.fromEntries(new URLSearchParams(req.rawBody).entries())
      assert.equal(
        twilio.validateRequest(TOKEN, String(req.headers['x-twilio-signature']), URL_, {
          ...params,
          [name]: [...values],
        }),
        true,
      )
      rejects(() => twilioSource.read(req, config, 'tw'), 'E_INPUT_INVALID', `/${name}`)
    }
  })

  test('a JSON body that is not an object → 400, not a TypeError', () => {
    for (const body of ['[1,2]', '"x"', 'null']) {
      const url = `${URL_}?bodySHA256=${twilio.getExpectedBodyHash(body)}`
      const req: SourceRequest = {
        method: 'POST',
        url: '/v1/sources/tw/twilio',
        publicUrl: url,
        query: {},
        headers: {
          'content-type': 'application/json',
          'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, url, {}),
        },
        rawBody: body,
        body: JSON.parse(body),
        remoteIp: '127.0.0.1',
        now: NOW,
      }
      rejects(() => twilioSource.read(req, config, 'tw'), 'E_INPUT_INVALID', '/')
    }
  })
})
