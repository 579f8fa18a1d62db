/**
 * Calls end to end over real HTTP: Twilio callbacks signed by the official `twilio` package, disposition
 * postbacks, a CRM outcome, the call rules and their durable timer, delivered to a loopback receiver that
 * records which signals arrived. Real server, real SQLite, real timers.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, test } from 'node:test'
import twilio from 'twilio'
import type { EcapiEvent } from '../../src/model/ecapi.ts'
import { eventually, startApp, type TestApp } from '../helpers/app.ts'
import { startReceiver } from '../helpers/receiver.ts'

const TOKEN = 'twilio-auth-token-0123456789abcdef'
const PB_TOKEN = 'callcenter-token-123'
let seq = 0
const callId = (tag: string) => `CA${tag}${process.pid}${++seq}${Math.random().toString(36).slice(2, 8)}`
const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000')

type Receiver = Awaited<ReturnType<typeof startReceiver>>

function configFor(receiver: Receiver, extra = '') {
  return `
delivery: { sweep_interval_ms: 50, retry_schedule_s: [0.1], jitter: 0 }
sources:
  tw: { type: twilio, auth_token: ${TOKEN}, data_set_id: acme, campaign: insurance-main }
  cc: { type: postback, token: ${PB_TOKEN}, data_set_id: acme }
  ringba: { type: webhook, preset: ringba, secret: ringba-secret-123, data_set_id: acme }
  retreaver: { type: webhook, preset: retreaver, auth: none, data_set_id: acme }
  invoca: { type: webhook, preset: invoca, auth: none, data_set_id: acme }
  callrail: { type: webhook, preset: callrail, auth: none, data_set_id: acme }
campaigns:
  default: { qualified_after_s: 120 }
destinations:
  pb:
    type: postback
    url: "${receiver.url}/pb?s={signal}&c={call_id}&v={value}&sid={event_id}"
    allow_private: true
routes:
  - { signals: ["*"], to: [pb] }
${extra}`
}

/** Posts a Twilio status callback signed exactly as Twilio signs it. */
async function twilioCallback(
  app: TestApp,
  params: Record<string, string>,
  opts: { token?: string; tamper?: boolean } = {},
) {
  const url = `${app.url}/v1/sources/tw/twilio`
  const signature = twilio.getExpectedTwilioSignature(opts.token ?? TOKEN, url, params)
  const body = new URLSearchParams(opts.tamper ? { ...params, CallDuration: '9999' } : params).toString()
  return app.request('POST', '/v1/sources/tw/twilio', body, {
    'content-type': 'application/x-www-form-urlencoded',
    'x-twilio-signature': signature,
    authorization: '',
  })
}

/** A caller number per call: the same caller twice would (rightly) be held back as a repeat caller. */
const callerFor = (call: string) => `+1212555${String(Math.abs(hash(call)) % 10_000).padStart(4, '0')}`
const hash = (s: string) => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7)

function status(call: string, CallStatus: string, atMs: number, extra: Record<string, string> = {}) {
  return {
    AccountSid: 'AC0123456789abcdef0123456789abcdef',
    CallSid: call,
    CallStatus,
    From: callerFor(call),
    To: '+18005550199',
    Direction: 'inbound',
    Timestamp: rfc2822(atMs),
    ...extra,
  }
}

const signalsFor = (r: Receiver, call: string) =>
  r.received
    .map((x) => new URL(x.url, 'http://x').searchParams)
    .filter((q) => q.get('c') === call)
    .map((q) => ({ name: q.get('s')!, value: q.get('v'), id: q.get('sid') }))

const names = (r: Receiver, call: string) =>
  signalsFor(r, call)
    .map((s) => s.name)
    .sort()

describe('a phone call through the whole pipeline', () => {
  let receiver: Receiver
  let app: TestApp
  before(async () => {
    receiver = await startReceiver()
    app = await startApp(configFor(receiver))
  })
  after(async () => {
    await app.close()
    await receiver.close()
  })

  test('ringing → answered → completed → Sale → CRM outcome yields exactly the four signals with their values', async () => {
    const call = callId('full')
    const answered = Date.now() - 300_000
    for (const p of [
      status(call, 'ringing', answered - 5000),
      status(call, 'in-progress', answered),
      status(call, 'completed', answered + 200_000, { CallDuration: '200' }),
    ]) {
      const res = await twilioCallback(app, p)
      assert.equal(res.status, 200, res.text)
    }
    const pb = await app.request(
      'GET',
      `/v1/sources/cc/postback?call_id=${call}&disposition=Sale&value=120&token=${PB_TOKEN}`,
      undefined,
      {
        authorization: '',
      },
    )
    assert.equal(pb.status, 200, pb.text)
    const crm = await app.post('/v1/events', {
      data_set_id: 'acme',
      id: `crm-${call}`,
      timestamp: Math.floor(Date.now() / 1000),
      event_type: 'close_convert_lead',
      source: 'phone_call',
      value: 1800,
      currency_code: 'USD',
      ext: { call: { call_id: call } },
    })
    assert.equal(crm.status, 200, crm.text)
    await eventually(() => names(receiver, call).length === 4, 5000, 'four signals')
    await new Promise((r) => setTimeout(r, 300)) // nothing more arrives
    assert.deepEqual(names(receiver, call), [
      'call_connected',
      'closed_outcome',
      'disposition:Sale',
      'qualified_call',
    ])
    const byName = Object.fromEntries(signalsFor(receiver, call).map((s) => [s.name, s.value]))
    assert.equal(byName['disposition:Sale'], '120')
    assert.equal(byName.closed_outcome, '1800')
  })

  test('the same callbacks shuffled and duplicated yield the same signals once', async () => {
    const call = callId('shuf')
    const answered = Date.now() - 400_000
    const ringing = status(call, 'ringing', answered - 3000, { SequenceNumber: '0' })
    const inProgress = status(call, 'in-progress', answered, { SequenceNumber: '1' })
    const completed = status(call, 'completed', answered + 150_000, {
      CallDuration: '150',
      SequenceNumber: '2',
    })
    for (const p of [completed, ringing, completed, inProgress, ringing, inProgress, completed])
      assert.equal((await twilioCallback(app, p)).status, 200)
    await eventually(() => names(receiver, call).length >= 2, 5000)
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(names(receiver, call), ['call_connected', 'qualified_call'])
  })

  test('an early hang-up yields no qualified_call (the timer is cancelled)', async () => {
    const call = callId('early')
    const answered = Date.now()
    await twilioCallback(app, status(call, 'in-progress', answered))
    await twilioCallback(app, status(call, 'completed', answered + 30_000, { CallDuration: '30' }))
    await eventually(() => names(receiver, call).length >= 1, 5000)
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(names(receiver, call), ['call_connected'])
  })

  test('each default disposition behaves as specified', async () => {
    const cases: Array<[string, string[], string | null]> = [
      ['Sale', ['disposition:Sale'], '200'],
      ['Qualified Lead', ['disposition:Qualified Lead'], '60'],
      ['Appointment Set', ['disposition:Appointment Set'], '25'],
      ['No Answer', ['follow_up'], null],
      ['Existing Customer', [], null],
    ]
    for (const [disposition, expected, value] of cases) {
      const call = callId('disp')
      const res = await app.request(
        'POST',
        '/v1/sources/cc/postback',
        { call_id: call, disposition, value: 200 },
        { 'x-closeloop-token': PB_TOKEN, authorization: '' },
      )
      assert.equal(res.status, 200, `${disposition}: ${res.text}`)
      if (expected.length)
        await eventually(() => names(receiver, call).length === expected.length, 5000, disposition)
      await new Promise((r) => setTimeout(r, 200))
      assert.deepEqual(names(receiver, call), expected, disposition)
      if (value) assert.equal(signalsFor(receiver, call)[0].value, value, `${disposition} value`)
    }
    const metrics = await app.get('/metrics')
    assert.match(metrics.text, /closeloop_holdbacks_total\{reason="service"\} [1-9]/)
  })

  test('a repeat caller inside the window and a call with failed attestation produce no conversion and are counted', async () => {
    const first = callId('rep1')
    const second = callId('rep2')
    const caller = { From: '+13105550142' }
    await twilioCallback(app, status(first, 'in-progress', Date.now(), caller))
    await eventually(() => names(receiver, first).includes('call_connected'), 5000)
    await twilioCallback(app, status(second, 'in-progress', Date.now(), caller))
    const spam = callId('spam')
    await twilioCallback(
      app,
      status(spam, 'in-progress', Date.now(), {
        From: '+14155550177',
        StirVerstat: 'TN-Validation-Failed-C',
      }),
    )
    await new Promise((r) => setTimeout(r, 400))
    assert.deepEqual(names(receiver, second), [])
    assert.deepEqual(names(receiver, spam), [])
    const metrics = (await app.get('/metrics')).text
    assert.match(metrics, /closeloop_holdbacks_total\{reason="repeat_caller"\} [1-9]/)
    assert.match(metrics, /closeloop_holdbacks_total\{reason="spam:attestation"\} [1-9]/)
  })

  test('each webhook preset maps its sample payload', async () => {
    for (const preset of ['ringba', 'retreaver', 'invoca', 'callrail']) {
      const sample = readFileSync(join('src/sources/webhook/presets', `${preset}.sample.json`), 'utf8')
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: '' }
      if (preset === 'ringba') headers['x-closeloop-token'] = 'ringba-secret-123'
      const path = `/v1/sources/${preset}/webhook${preset === 'callrail' ? '?event=post_call' : ''}`
      const res = await app.request('POST', path, sample, headers)
      assert.equal(res.status, 200, `${preset}: ${res.text}`)
      const results = (res.body as { results: Array<{ status: string; signals: string[] }> }).results
      assert.equal(results[0].status, 'accepted', preset)
    }
  })

  test('every source route takes GET and a POST with its values in the URL; currency and end time hold', async () => {
    const trace = async (res: { body: unknown }) => {
      const id = (res.body as { results: Array<{ event_id: string }> }).results[0].event_id
      return ((await app.get(`/v1/events/${id}`)).body as { event: { event: EcapiEvent } }).event.event
    }
    // Twilio with StatusCallbackMethod=GET signs the URL with its query and no body parameters
    const tw = callId('get')
    const query = new URLSearchParams({
      CallSid: tw,
      CallStatus: 'in-progress',
      From: '+12125550177',
      To: '+18005550100',
      Direction: 'inbound',
      Timestamp: rfc2822(Date.now()),
    }).toString()
    const path = `/v1/sources/tw/twilio?${query}`
    const signature = twilio.getExpectedTwilioSignature(TOKEN, `${app.url}${path}`, {})
    const twGet = await app.request('GET', path, undefined, {
      'x-twilio-signature': signature,
      authorization: '',
    })
    assert.equal(twGet.status, 200, twGet.text)
    // a Retreaver pixel as a GET, and an Invoca webhook POSTed with an empty form body and its values in the URL
    const rv = callId('rv')
    const rvGet = await app.request(
      'GET',
      `/v1/sources/retreaver/webhook?event=answered&call_uuid=${rv}&caller_number=%2B13125550111`,
      undefined,
      { authorization: '' },
    )
    assert.equal(rvGet.status, 200, rvGet.text)
    const iv = callId('iv')
    const ivPost = await app.request(
      'POST',
      `/v1/sources/invoca/webhook?transaction_id=${iv}&calling_phone_number=6025550147&start_time_utc=1746550800&duration=241&connect_duration=226&signal_name=Sale&sale_amount=1280.00&sale_currency=EUR`,
      '',
      { 'content-type': 'application/x-www-form-urlencoded', authorization: '' },
    )
    assert.equal(ivPost.status, 200, ivPost.text)
    // Invoca's sale currency is the call's, not USD
    assert.equal((await trace(ivPost)).currency_code, 'EUR')
    await eventually(() => names(receiver, tw).includes('call_connected'))
    await eventually(() => names(receiver, rv).includes('call_connected'))
    // a CallRail post-call is stamped with the end of the call (start + duration), not its late arrival
    const sample = JSON.parse(
      readFileSync(join('src/sources/webhook/presets', 'callrail.sample.json'), 'utf8'),
    ) as Record<string, unknown>
    const cr = await app.request(
      'POST',
      '/v1/sources/callrail/webhook?event=post_call',
      { ...sample, resource_id: callId('cr') },
      { authorization: '' },
    )
    assert.equal(cr.status, 200, cr.text)
    const ended = Date.parse(String(sample.start_time)) / 1000 + Number(sample.duration)
    assert.equal((await trace(cr)).timestamp, ended)
  })

  test('bad input on every source: a precise 4xx with a stable code, and the raw input stored', async () => {
    const call = callId('bad')
    const cases: Array<[string, () => Promise<{ status: number; body: unknown }>, number, string]> = [
      [
        'twilio tampered body',
        () => twilioCallback(app, status(call, 'completed', Date.now()), { tamper: true }),
        401,
        'E_SOURCE_SIGNATURE',
      ],
      [
        'twilio wrong token',
        () => twilioCallback(app, status(call, 'completed', Date.now()), { token: 'nope-nope' }),
        401,
        'E_SOURCE_SIGNATURE',
      ],
      [
        'twilio no CallSid',
        () => twilioCallback(app, { CallStatus: 'completed', Timestamp: rfc2822(Date.now()) }),
        400,
        'E_INPUT_INVALID',
      ],
      [
        'postback without token',
        () =>
          app.request('GET', `/v1/sources/cc/postback?call_id=x&disposition=Sale`, undefined, {
            authorization: '',
          }),
        401,
        'E_AUTH_MISSING',
      ],
      [
        'postback without call_id',
        () =>
          app.request('GET', `/v1/sources/cc/postback?disposition=Sale&token=${PB_TOKEN}`, undefined, {
            authorization: '',
          }),
        400,
        'E_INPUT_INVALID',
      ],
      [
        'webhook wrong secret',
        () =>
          app.request(
            'POST',
            '/v1/sources/ringba/webhook',
            { a: 1 },
            { 'x-closeloop-token': 'wrong', authorization: '' },
          ),
        401,
        'E_AUTH_INVALID',
      ],
      [
        'unknown source',
        () => app.request('POST', '/v1/sources/nope/webhook', { a: 1 }, { authorization: '' }),
        404,
        'E_SOURCE_UNKNOWN',
      ],
      [
        'wrong route for source',
        () =>
          app.request('POST', '/v1/sources/cc/twilio', 'a=1', {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: '',
          }),
        404,
        'E_SOURCE_TYPE',
      ],
    ]
    for (const [name, run, code, errorCode] of cases) {
      const res = await run()
      assert.equal(res.status, code, `${name}: ${JSON.stringify(res.body)}`)
      assert.equal((res.body as { error: { code: string } }).error.code, errorCode, name)
    }
    const db = new DatabaseSync(join(app.dir, 'closeloop.db'), { readOnly: true })
    const stored = db
      .prepare('SELECT status, COUNT(*) AS n FROM raw_inputs WHERE status >= 400 GROUP BY status')
      .all() as Array<{ status: number; n: number }>
    db.close()
    const byStatus = Object.fromEntries(stored.map((r) => [r.status, r.n]))
    assert.ok(byStatus[401] >= 4 && byStatus[400] >= 2 && byStatus[404] >= 2, JSON.stringify(byStatus))
  })

  test('stored raw inputs hold no source credential, and an unauthenticated body is kept short', async () => {
    const call = callId('cred')
    const pb = await app.request(
      'GET',
      `/v1/sources/cc/postback?token=${PB_TOKEN}&call_id=${call}&disposition=Sale&value=10`,
      undefined,
      { authorization: '' },
    )
    assert.equal(pb.status, 200, pb.text)
    const hook = await app.request(
      'POST',
      '/v1/sources/ringba/webhook',
      { event: 'completed', inboundCallId: `RGB${call}`, inboundPhoneNumber: '+12125550100' },
      { 'x-closeloop-token': 'ringba-secret-123', authorization: '' },
    )
    assert.equal(hook.status, 200, hook.text)
    // a token may come in a JSON body too
    const json = await app.request(
      'POST',
      '/v1/sources/cc/postback',
      { token: PB_TOKEN, call_id: call, disposition: 'Sale', value: 10 },
      { authorization: '' },
    )
    assert.equal(json.status, 200, json.text)
    const big = JSON.stringify({ call, pad: 'x'.repeat(500_000) })
    const refused = await app.request('POST', '/v1/sources/ringba/webhook', big, {
      'content-type': 'application/json',
      'x-closeloop-token': 'wrong-token',
      authorization: '',
    })
    assert.equal(refused.status, 401)

    const db = new DatabaseSync(join(app.dir, 'closeloop.db'), { readOnly: true })
    const rows = db
      .prepare("SELECT status, headers, body FROM raw_inputs WHERE body LIKE '%' || ? || '%'")
      .all(call) as Array<{ status: number | null; headers: string; body: string }>
    db.close()
    assert.equal(rows.length, 4, JSON.stringify(rows.map((r) => r.status)))
    for (const r of rows) {
      for (const secret of [PB_TOKEN, 'ringba-secret-123', 'wrong-token'])
        assert.ok(
          !`${r.headers}${r.body}`.includes(secret),
          `${secret} stored: ${r.headers} ${r.body.slice(0, 200)}`,
        )
    }
    const stored = rows.find((r) => r.status === 401)
    assert.ok(stored && stored.body.length < 4_300, `refused body stored at ${stored?.body.length} chars`)
    assert.match(stored.body, /…\[truncated: 500\d{3} bytes, sha256 [0-9a-f]{64}\]$/)
  })
})

describe('unauthenticated refusals', () => {
  test('are stored up to a burst of 60 per sender, then counted instead; the answers stay the same', async () => {
    const app = await startApp(`sources: { cc: { type: postback, token: ${PB_TOKEN}, data_set_id: acme } }\n`)
    try {
      const answers = []
      for (let i = 0; i < 75; i++)
        answers.push(
          (
            await app.request('GET', `/v1/sources/cc/postback?call_id=flood${i}&token=wrong`, undefined, {
              authorization: '',
            })
          ).status,
        )
      assert.deepEqual(new Set(answers), new Set([401]))
      const db = new DatabaseSync(join(app.dir, 'closeloop.db'), { readOnly: true })
      const { n } = db
        .prepare("SELECT COUNT(*) AS n FROM raw_inputs WHERE body LIKE '%call_id=flood%'")
        .get() as { n: number }
      db.close()
      // 60 at once, and the odd one refilled while the requests ran (1 a second)
      assert.ok(n >= 60 && n < 75, `${n} stored`)
      const metrics = (await app.get('/metrics')).text
      const unrecorded = Number(/^closeloop_refusals_unrecorded_total (\d+)/m.exec(metrics)?.[1])
      assert.equal(unrecorded, 75 - n)
    } finally {
      await app.close()
    }
  })
})

describe('behind a proxy: allow_ips sees the address the proxy saw', () => {
  test('with trust_proxy: 1, an X-Forwarded-For entry the client wrote itself does not pass allow_ips', async () => {
    const app = await startApp(`
server: { trust_proxy: 1 }
sources: { cc: { type: postback, allow_ips: ["203.0.113.0/24"], data_set_id: acme } }
`)
    try {
      const send = (xff?: string) =>
        app.request('GET', `/v1/sources/cc/postback?call_id=${callId('xff')}&disposition=Sale`, undefined, {
          authorization: '',
          ...(xff ? { 'x-forwarded-for': xff } : {}),
        })
      // the proxy appends the peer it saw: an allowed sender arrives as "…, 203.0.113.9"
      assert.equal((await send('203.0.113.9')).status, 200)
      assert.equal((await send('198.51.100.7, 203.0.113.9')).status, 200)
      // a client elsewhere writes the allowed address first; the proxy appends the real one
      const spoofed = await send('203.0.113.9, 198.51.100.77')
      assert.equal(spoofed.status, 403)
      assert.equal((spoofed.body as { error: { code: string } }).error.code, 'E_SOURCE_IP')
      assert.equal((await send()).status, 403, 'no proxy header: the loopback peer itself')
    } finally {
      await app.close()
    }
  })
})

describe('durable qualified-call timer', () => {
  test('a process killed during a live call and restarted still fires qualified_call on time', async () => {
    const receiver = await startReceiver()
    const srv = createServer()
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const port = (srv.address() as { port: number }).port
    await new Promise((r) => srv.close(r))
    const dirApp = await startApp('')
    const dir = dirApp.dir
    await dirApp.close()
    const { mkdirSync } = await import('node:fs')
    mkdirSync(dir, { recursive: true })
    const file = join(dir, 'calls.yaml')
    writeFileSync(
      file,
      `server: { port: ${port}, host: 127.0.0.1 }
store: { sqlite: ${join(dir, 'timer.db')} }
log: { level: silent }
api_keys: [{ name: t, key: test-key-0123456789 }]
${configFor(receiver).replace('campaigns:\n  default: { qualified_after_s: 120 }', 'campaigns:\n  default: { qualified_after_s: 8 }')}`,
    )
    const start = () => {
      const c: ChildProcess = spawn(process.execPath, ['src/main.ts', 'serve', '--config', file], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      c.stderr?.resume()
      return c
    }
    let child = start()
    const url = `http://127.0.0.1:${port}`
    try {
      await eventually(async () => (await fetch(`${url}/healthz`)).ok, 30_000)
      const call = callId('live')
      const answeredAt = Math.floor(Date.now() / 1000) * 1000 // Twilio timestamps have whole seconds
      const params = status(call, 'in-progress', answeredAt)
      const target = `${url}/v1/sources/tw/twilio`
      const res = await fetch(target, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, target, params),
        },
        body: new URLSearchParams(params).toString(),
      })
      assert.equal(res.status, 200)
      await eventually(() => names(receiver, call).includes('call_connected'), 5000)
      child.kill('SIGKILL')
      await new Promise((r) =>
        child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r),
      )
      child = start()
      await eventually(async () => (await fetch(`${url}/healthz`)).ok, 30_000)
      const readyAt = Date.now()
      await eventually(
        () => names(receiver, call).includes('qualified_call'),
        8000,
        'qualified_call after restart',
      )
      const arrived = receiver.received.find(
        (r) => r.url.includes('qualified_call') && r.url.includes(call),
      )!.at
      // due at the floor (8 s after the answer); if the restart took longer than that, due as soon as the node is back
      assert.ok(arrived >= answeredAt + 8000, `fired ${answeredAt + 8000 - arrived} ms before the floor`)
      const late = arrived - Math.max(answeredAt + 8000, readyAt)
      assert.ok(late < 1500, `fired ${late} ms after it was due`)
    } finally {
      child.kill('SIGKILL')
      await receiver.close()
    }
  })
})
