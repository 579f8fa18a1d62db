/**
 * Reports end to end: real deliveries to a postback network (which matches on the click id) and a signed
 * webhook (which matches nothing), then the match rate and the reconciliation over HTTP and through the
 * real `closeloop report` CLI on the same SQLite file while the server runs.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { Webhook } from 'standardwebhooks'
import { API_KEY, clearOfMidnight, ecapiEvent, eventually, startApp, type TestApp } from '../helpers/app.ts'
import { deliverAt } from '../helpers/deliveries.ts'
import { startReceiver } from '../helpers/receiver.ts'

const run = promisify(execFile)
type Receiver = Awaited<ReturnType<typeof startReceiver>>

describe('reports', () => {
  let receiver: Receiver
  let app: TestApp
  let configPath: string

  let today: string
  before(async () => {
    // the assertions below are about today's report (and Kiritimati's): all events on one day
    await clearOfMidnight(['UTC', 'Pacific/Kiritimati'])
    today = new Date().toISOString().slice(0, 10)
    receiver = await startReceiver()
    const destinations = `
destinations:
  pb: { type: postback, url: "${receiver.url}/pb?cid={click_id}&v={value}", allow_private: true }
  hook: { type: webhook, url: "${receiver.url}/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", allow_private: true }
routes: [ { signals: ["*"], to: [pb, hook] } ]
`
    app = await startApp(destinations)
    configPath = join(app.dir, 'cli.yaml')
    writeFileSync(
      configPath,
      `store: { sqlite: ${join(app.dir, 'closeloop.db')} }\nlog: { level: silent }\n${destinations}`,
    )
    const call = (n: number, campaign?: string) => ({
      call_id: `rep-${process.pid}-${n}`,
      ...(campaign ? { campaign } : {}),
    })
    const events = [
      ecapiEvent({ ext: { call: call(1, 'mortgage-ny'), click_ids: { gclid: 'Cj0-one' } } }),
      ecapiEvent({ ext: { call: call(2, 'mortgage-ny'), click_ids: { gclid: 'Cj0-two' } } }),
      ecapiEvent({ ext: { call: call(3, 'mortgage-ny') } }), // no click id: the network cannot match it
      ecapiEvent({ ext: { click_ids: { gclid: 'Cj0-four' } } }), // no campaign
    ]
    for (const e of events) assert.equal((await app.post('/v1/events', e)).status, 200)
    // a duplicate: counted as intake, derives nothing
    assert.equal((await app.post('/v1/events', events[0])).status, 200)
    await eventually(
      async () => {
        const r = await app.get('/v1/deliveries?status=delivered')
        return (r.body as { deliveries: unknown[] }).deliveries.length === 8
      },
      10_000,
      'eight deliveries delivered',
    )
  })

  after(async () => {
    await app?.close()
    await receiver?.close()
  })

  test('each delivery keeps the keys its payload carried; the trace shows them', async () => {
    const r = await app.get('/v1/deliveries?destination=pb&status=delivered')
    const keys = (r.body as { deliveries: Array<{ matchKeys?: string[] }> }).deliveries.map(
      (d) => d.matchKeys,
    )
    assert.deepEqual(keys.map((k) => JSON.stringify(k)).sort(), [
      '["click_id"]',
      '["click_id"]',
      '["click_id"]',
      '[]',
    ])
    const hook = await app.get('/v1/deliveries?destination=hook&status=delivered')
    for (const d of (hook.body as { deliveries: Array<{ matchKeys?: string[] }> }).deliveries)
      assert.equal(d.matchKeys, undefined)
  })

  test('GET /v1/reports/match-rate: per campaign and destination, only destinations that report keys', async () => {
    const r = await app.get('/v1/reports/match-rate')
    assert.equal(r.status, 200)
    const body = r.body as { checks: Array<Record<string, unknown>>; drop: number; min_deliveries: number }
    assert.equal(body.drop, 0.15)
    assert.equal(body.min_deliveries, 20)
    assert.deepEqual(body.checks, [
      {
        campaign: 'mortgage-ny',
        destination: 'pb',
        current: { reported: 3, matched: 2, rate: 2 / 3 },
        baseline: { reported: 0, matched: 0, rate: null },
        alert: false,
        measured: false,
      },
      {
        campaign: null,
        destination: 'pb',
        current: { reported: 1, matched: 1, rate: 1 },
        baseline: { reported: 0, matched: 0, rate: null },
        alert: false,
        measured: false,
      },
    ])
  })

  test('GET /v1/reports/reconciliation: intake, and per signal and destination what was delivered', async () => {
    const r = await app.get(`/v1/reports/reconciliation?from=${today}&to=${today}`)
    assert.equal(r.status, 200)
    const body = r.body as { from: string; to: string; intake: unknown[]; conversions: unknown[] }
    assert.equal(body.from, today)
    assert.equal(body.to, today)
    assert.equal((body as { timezone?: string }).timezone, 'UTC')
    assert.deepEqual(body.intake, [
      { day: today, campaign: 'mortgage-ny', source: 'ecapi', accepted: 3, duplicate: 1 },
      { day: today, campaign: null, source: 'ecapi', accepted: 1, duplicate: 0 },
    ])
    // a purchase on a call is the call's closed outcome (the call rules); without one, a plain signal
    const row = (
      campaign: string | null,
      destination: string,
      n: number,
      reported: number,
      matched: number,
    ) => ({
      day: today,
      campaign,
      signal: campaign ? 'closed_outcome' : 'purchase',
      currency: 'USD',
      signals: n,
      value: 120 * n,
      destination,
      delivered: n,
      pending: 0,
      dead: 0,
      skipped: 0,
      deliveredValue: 120 * n,
      reported,
      matched,
    })
    assert.deepEqual(body.conversions, [
      row('mortgage-ny', 'hook', 3, 0, 0),
      row('mortgage-ny', 'pb', 3, 3, 2),
      row(null, 'hook', 1, 0, 0),
      row(null, 'pb', 1, 1, 1),
    ])
    const csv = await app.get(`/v1/reports/reconciliation?from=${today}&format=csv`)
    assert.equal(csv.status, 200)
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/)
    const lines = csv.text.trimEnd().split('\r\n')
    assert.equal(lines.length, 5)
    assert.equal(lines[2], `${today},mortgage-ny,closed_outcome,3,360,USD,pb,3,0,0,0,360,66.7%`)
  })

  test('?tz=: the days of that zone', async () => {
    // UTC+14: its today is always one calendar day ahead of UTC's in the afternoon, UTC's day at midnight
    const tz = 'Pacific/Kiritimati'
    const local = new Intl.DateTimeFormat('en-CA', { timeZone: tz }).format(new Date())
    const r = await app.get(`/v1/reports/reconciliation?tz=${encodeURIComponent(tz)}`)
    assert.equal(r.status, 200)
    const body = r.body as { timezone: string; to: string; intake: Array<{ day: string; accepted: number }> }
    assert.equal(body.timezone, tz)
    assert.equal(body.to, local)
    assert.deepEqual(
      body.intake.map((i) => [i.day, i.accepted]),
      [
        [local, 3],
        [local, 1],
      ],
    )
  })

  test('bad queries are 400s naming the field; no key is a 401', async () => {
    const bad = async (q: string, path: string) => {
      const r = await app.get(`/v1/reports/reconciliation${q}`)
      assert.equal(r.status, 400, q)
      const e = (r.body as { error: { code: string; details: Array<{ path: string }> } }).error
      assert.equal(e.code, 'E_INPUT_INVALID')
      assert.equal(e.details[0].path, path)
    }
    await bad('?from=2026-13-01', '/query/from')
    await bad('?from=2026-02-30', '/query/from')
    await bad('?from=2026-12-06&to=2026-12-01', '/query/from')
    await bad('?from=2025-01-01&to=2026-12-01', '/query/from')
    await bad('?format=xml', '/query/format')
    await bad('?limit=5', '/query/limit')
    await bad('?tz=Mars%2FOlympus', '/query/tz')
    await bad('?to=9999-12-31', '/query/to')
    const m = await app.request('GET', '/v1/reports/match-rate?x=1')
    assert.equal(m.status, 400)
    const anon = await fetch(`${app.url}/v1/reports/match-rate`)
    assert.equal(anon.status, 401)
    const wrong = await fetch(`${app.url}/v1/reports/reconciliation`, {
      headers: { authorization: `Bearer ${API_KEY}x` },
    })
    assert.equal(wrong.status, 401)
  })

  test('closeloop report: the same numbers as a table, JSON and CSV, read beside the running server', async () => {
    const cli = (...args: string[]) =>
      run(process.execPath, ['src/main.ts', 'report', '--config', configPath, ...args], { encoding: 'utf8' })
    const table = await cli()
    assert.match(table.stdout, /^Reconciliation \d{4}-\d{2}-\d{2} … \d{4}-\d{2}-\d{2}/)
    assert.match(
      table.stdout,
      /^\S+ {2}mortgage-ny {2}closed_outcome {2}3 +360 +USD +pb +3 +0 +0 +0 +360 +66\.7%$/m,
    )
    assert.match(table.stdout, /^mortgage-ny {2}pb {11}66\.7%/m)
    const json = JSON.parse((await cli('--format', 'json', '--from', today)).stdout)
    const http = (await app.get(`/v1/reports/reconciliation?from=${today}`)).body
    assert.deepEqual(json.reconciliation, http)
    assert.equal(json.match_rate.checks.length, 2)
    const csv = await cli('--format', 'csv', '--from', today, '--to', today)
    assert.equal(csv.stdout, (await app.get(`/v1/reports/reconciliation?from=${today}&format=csv`)).text)
    // a path with no database: refused, and nothing is created there
    const nowhere = join(app.dir, 'nothing-here', 'closeloop.db')
    const empty = join(app.dir, 'empty.yaml')
    writeFileSync(empty, `store: { sqlite: ${nowhere} }\n`)
    await assert.rejects(
      run(process.execPath, ['src/main.ts', 'report', '--config', empty], { encoding: 'utf8' }),
      (err: { stderr: string }) => /no database at/.test(err.stderr),
    )
    assert.equal(existsSync(join(app.dir, 'nothing-here')), false)
    const ny = JSON.parse((await cli('--format', 'json', '--tz', 'America/New_York')).stdout)
    assert.equal(ny.reconciliation.timezone, 'America/New_York')
    await assert.rejects(cli('--from', 'yesterday'), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1)
      assert.match(err.stderr, /--from must be a date, YYYY-MM-DD/)
      return true
    })
  })
})

describe('match-rate alerts from a running server', () => {
  test('a drop in the store reaches the alert receiver, signed, once', async () => {
    const receiver = await startReceiver()
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
    // checks on demand below (the first scheduled one is 30 s away), so the history is written first
    const app = await startApp(`
observe:
  match_rate: { check_every_s: 3600, min_deliveries: 10 }
  alerts:
    - { url: "${receiver.url}/alerts", secret: "${secret}", allow_private: true }
`)
    try {
      // a week of matched conversions, then an hour of unmatched ones
      await deliverAt(app.app.store, Date.now() - 72 * 3_600_000, 30, ['gclid'], { campaign: 'auto' })
      await deliverAt(app.app.store, Date.now() - 3_600_000, 10, [], { campaign: 'auto' })
      await app.app.matchRates?.check()
      const hit = await eventually(
        () => receiver.received.find((r) => r.url === '/alerts'),
        10_000,
        'an alert',
      )
      const body = new Webhook(secret).verify(hit.body, hit.headers as Record<string, string>) as {
        type: string
        data: { campaign: string; destination: string; current: { rate: number } }
      }
      assert.equal(body.type, 'alert.match_rate_dropped')
      assert.deepEqual(
        [body.data.campaign, body.data.destination, body.data.current.rate],
        ['auto', 'meta', 0],
      )
      // later checks find the same drop: nothing more is sent
      await app.app.matchRates?.check()
      await app.app.matchRates?.check()
      assert.equal(receiver.received.filter((r) => r.url === '/alerts').length, 1)
    } finally {
      await app.close()
      await receiver.close()
    }
  })
})
