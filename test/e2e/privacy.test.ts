/**
 * Privacy end to end over real HTTP: one person's email, phone (in four formats), IP and user agent come in
 * through ECAPI, Twilio (form-encoded) and a disposition postback (query string); deliveries go out to a
 * postback URL carrying `{caller}`. Then `POST /v1/subjects/delete` (and, on another database, a retention
 * pass with a cutoff in the future) — and every column of every table is searched for the planted values
 * in every format. SQLite through the app's own store; the deletion also on PostgreSQL.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import twilio from 'twilio'
import { createApp } from '../../src/app.ts'
import { readConfig } from '../../src/config/index.ts'
import { openPostgresStore } from '../../src/store/postgres/index.ts'
import { API_KEY, eventually, httpRequest } from '../helpers/app.ts'
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts'
import { startReceiver } from '../helpers/receiver.ts'

const TW_TOKEN = 'twilio-auth-token-0123456789abcdef'
const PB_TOKEN = 'callcenter-token-123'
type Receiver = Awaited<ReturnType<typeof startReceiver>>
const sha = (s: string) => createHash('sha256').update(s).digest('hex')

/** The planted person: a different number per test so tests never see each other's data. */
function person(last4: string) {
  return {
    email: `Jane.Doe${last4}+cl@Example.com`,
    local: `jane.doe${last4}`,
    e164: `+1212555${last4}`,
    dashed: `212-555-${last4}`,
    national: `(212) 555-${last4}`,
    digits: `212555${last4}`,
    ip: `198.51.100.${Number(last4) % 200}`,
    ua: `Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Planted${last4}/1.0`,
  }
}
type Person = ReturnType<typeof person>

/** Where the person's raw values still appear in `dump`: decoded first, so `%2B`, `%40` and `+` count. */
function leaks(dump: string, p: Person): string[] {
  const decoded = dump.replace(/%([0-9a-f]{2})/gi, (_m, h: string) =>
    String.fromCharCode(Number.parseInt(h, 16)),
  )
  const text = `${dump}\n${decoded.replaceAll('+', ' ')}`.toLowerCase()
  const digits = p.digits.split('')
  const out: string[] = []
  if (text.includes(p.local)) out.push('email')
  if (new RegExp(`(?<![0-9])${digits.join('[^0-9]{0,3}')}(?![0-9])`).test(text)) out.push('phone')
  if (new RegExp(`(?<![0-9.])${p.ip.replaceAll('.', '\\.')}(?![0-9])`).test(text)) out.push('ip')
  if (text.includes(`planted${p.digits.slice(-4)}`)) out.push('ua')
  return out
}

interface Harness {
  url: string
  app: Awaited<ReturnType<typeof createApp>>
  req(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: unknown; text: string }>
  /** Every column of every table, as text. */
  dump(): Promise<string>
  close(): Promise<void>
}

/** A real app like test/helpers/app.ts `startApp`, on SQLite or PostgreSQL, with the privacy routes. */
async function start(kind: 'sqlite' | 'postgres', receiver: Receiver, extra = ''): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-privacy-e2e-'))
  const file = join(dir, 'closeloop.db')
  let db: TestDatabase | undefined
  const text = `
store: { sqlite: ${file} }
api_keys: [{ name: crm, key: ${API_KEY} }]
log: { level: silent }
delivery: { sweep_interval_ms: 50, retry_schedule_s: [0.1], jitter: 0 }
sources:
  tw: { type: twilio, auth_token: ${TW_TOKEN}, data_set_id: acme }
  cc: { type: postback, token: ${PB_TOKEN}, data_set_id: acme }
campaigns:
  default: { qualified_after_s: 120 }
destinations:
  pb:
    type: postback
    url: "${receiver.url}/pb?s={signal}&caller={caller}&c={call_id}"
    allow_private: true
routes:
  - { signals: ["*"], to: [pb] }
${extra}`
  const { config, errors } = readConfig(text, {})
  if (!config) throw new Error(errors.join('\n'))
  let store: Awaited<ReturnType<typeof openPostgresStore>> | undefined
  if (kind === 'postgres') {
    db = await createTestDatabase()
    store = await openPostgresStore(db.url)
  }
  const app = await createApp({ config, store })
  const port = await app.listen(0, '127.0.0.1')
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    app,
    req: (method, path, body, headers = {}) => httpRequest(url, method, path, body, headers),
    async dump() {
      if (db) {
        const c = new pg.Client({ connectionString: db.url })
        await c.connect()
        try {
          const tables = await c.query<{ t: string }>(
            "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public'",
          )
          const parts: string[] = []
          for (const { t } of tables.rows)
            for (const r of (await c.query<{ r: string }>(`SELECT row_to_json(x)::text AS r FROM "${t}" x`))
              .rows)
              parts.push(`${t}: ${r.r}`)
          return parts.join('\n')
        } finally {
          await c.end()
        }
      }
      const sq = new DatabaseSync(file, { readOnly: true })
      try {
        const parts: string[] = []
        for (const t of sq.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all())
          for (const r of sq.prepare(`SELECT * FROM "${String(t.name)}"`).all())
            parts.push(`${String(t.name)}: ${JSON.stringify(r)}`)
        return parts.join('\n')
      } finally {
        sq.close()
      }
    },
    async close() {
      await app.close()
      await db?.drop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000')

/** The person calls, is sold, and buys on the website; returns the website event's id. */
async function plant(h: Harness, receiver: Receiver, p: Person): Promise<string> {
  const call = `CA${Math.random().toString(36).slice(2, 12)}`
  const answered = Date.now() - 300_000
  for (const [CallStatus, at, extra] of [
    ['in-progress', answered, {}],
    ['completed', answered + 200_000, { CallDuration: '200' }],
  ] as const) {
    const params: Record<string, string> = {
      AccountSid: 'AC0123456789abcdef0123456789abcdef',
      CallSid: call,
      CallStatus,
      From: p.e164,
      Caller: p.e164,
      To: '+18005550199',
      CallerCity: 'NEW YORK',
      Direction: 'inbound',
      Timestamp: rfc2822(at),
      ...extra,
    }
    const signature = twilio.getExpectedTwilioSignature(TW_TOKEN, `${h.url}/v1/sources/tw/twilio`, params)
    const res = await h.req('POST', '/v1/sources/tw/twilio', new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': signature,
      'user-agent': p.ua,
      authorization: '',
    })
    assert.equal(res.status, 200, res.text)
  }
  const pb = await h.req(
    'GET',
    `/v1/sources/cc/postback?call_id=${call}&disposition=Sale&value=120&caller=${encodeURIComponent(p.national)}&token=${PB_TOKEN}`,
    undefined,
    { authorization: '', 'x-forwarded-for': p.ip },
  )
  assert.equal(pb.status, 200, pb.text)
  const id = `web-${Math.random().toString(36).slice(2, 12)}`
  const ev = await h.req(
    'POST',
    '/v1/events',
    {
      data_set_id: 'acme',
      id,
      timestamp: Math.floor(Date.now() / 1000),
      event_type: 'purchase',
      source: 'website',
      value: 99,
      currency_code: 'USD',
      user_data: {
        email_address: [p.email],
        phone_numbers: [p.dashed, p.digits],
        event_ip_address: p.ip,
        event_user_agent: p.ua,
        landing_ip_address: p.ip,
        landing_user_agent: p.ua,
      },
    },
    { 'user-agent': p.ua },
  )
  assert.equal(ev.status, 200, ev.text)
  // call_connected, qualified_call, disposition:Sale (each with {caller}), purchase
  await eventually(
    () =>
      receiver.received.filter((r) => r.url.includes(call)).length >= 3 &&
      receiver.received.some((r) => r.url.includes('purchase')),
    8000,
    'deliveries',
  )
  const report = ev.body as { event_id?: string; results?: Array<{ event_id: string }> }
  return String(report.event_id ?? report.results?.[0].event_id)
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`subject deletion through the API (${kind})`, () => {
    let receiver: Receiver
    let h: Harness
    before(async () => {
      receiver = await startReceiver()
      h = await start(kind, receiver)
    })
    after(async () => {
      await h.close()
      await receiver.close()
    })

    test('every planted value, in every format, is gone from every table; others stay; audit recorded', async () => {
      const a = person(kind === 'sqlite' ? '0187' : '0188')
      const b = person(kind === 'sqlite' ? '0291' : '0292')
      await plant(h, receiver, a)
      await plant(h, receiver, b)
      // the postback URL carried the caller, so the attempt log holds it too
      assert.ok(receiver.received.some((r) => r.url.includes(encodeURIComponent(a.e164))))
      assert.deepEqual(leaks(await h.dump(), a), ['email', 'phone', 'ip', 'ua'])

      const res = await h.req('POST', '/v1/subjects/delete', { email: a.email, phone: a.national })
      assert.equal(res.status, 200, res.text)
      const out = res.body as { deleted: Record<string, number>; audit_id: string }
      for (const t of ['raw_inputs', 'events', 'signals', 'attempts', 'journeys', 'journey_aliases'])
        assert.ok((out.deleted[t] ?? 0) >= 1, `${t}: ${res.text}`)

      const dump = await h.dump()
      const left = dump.split('\n').filter((line) => leaks(line, a).length)
      assert.deepEqual(left, [], 'no row mentions the subject')
      for (const hash of [sha(a.email.toLowerCase()), sha(a.e164), sha(a.e164.slice(1))])
        assert.ok(!dump.includes(hash), 'the subject hashes are gone too')
      assert.deepEqual(leaks(dump, b), ['email', 'phone', 'ip', 'ua'], 'the other person is untouched')

      const audit = await h.req('GET', '/v1/audit?limit=5')
      assert.equal(audit.status, 200)
      const [entry] = (audit.body as { entries: Array<Record<string, unknown>> }).entries
      assert.equal(entry.id, out.audit_id)
      assert.equal(entry.action, 'forget')
      assert.equal(entry.actor, 'crm')
      assert.match(String(entry.subject), /^[0-9a-f]{64}$/)
      assert.deepEqual(entry.counts, out.deleted)
      assert.ok(!audit.text.toLowerCase().includes(a.local) && !audit.text.includes(a.digits))
    })

    if (kind === 'sqlite')
      test('bad input is a 400 with field paths; no key is a 401', async () => {
        const bad = await h.req('POST', '/v1/subjects/delete', { email: 'not-an-email', phone: '123' })
        assert.equal(bad.status, 400)
        const paths = (bad.body as { error: { code: string; details: Array<{ path: string }> } }).error
        assert.equal(paths.code, 'E_INPUT_INVALID')
        assert.deepEqual(paths.details.map((d) => d.path).sort(), ['/email', '/phone'])
        const empty = await h.req('POST', '/v1/subjects/delete', {})
        assert.equal(empty.status, 400)
        const extra = await h.req('POST', '/v1/subjects/delete', { email: 'a@b.co', name: 'x' })
        assert.equal(extra.status, 400)
        assert.ok(extra.text.includes('/name'))
        assert.equal(
          (await h.req('POST', '/v1/subjects/delete', { email: 'a@b.co' }, { authorization: '' })).status,
          401,
        )
        assert.equal((await h.req('GET', '/v1/audit', undefined, { authorization: '' })).status, 401)
      })
  })
}

describe('retention through the app (sqlite)', () => {
  let receiver: Receiver
  let h: Harness
  before(async () => {
    receiver = await startReceiver()
    h = await start('sqlite', receiver)
  })
  after(async () => {
    await h.close()
    await receiver.close()
  })

  test('a cutoff in the future scrubs every planted value; hashes and counts stay', async () => {
    const p = person('0363')
    const eventId = await plant(h, receiver, p)
    // the last attempts are recorded (awaited, not slept: a slow fsync must not leave one out)
    await eventually(async () => {
      const d = (await h.app.store.counts()).deliveries
      return !d.pending && !d.in_flight
    }, 10_000)
    const stats = await h.req('GET', '/v1/stats')
    assert.deepEqual(leaks(await h.dump(), p), ['email', 'phone', 'ip', 'ua'])
    const counts = await h.app.store.scrubExpired(Date.now() + 60_000, Date.now())
    assert.ok(
      counts.raw_inputs && counts.events && counts.signals && counts.attempts && counts.journeys,
      JSON.stringify(counts),
    )
    const dump = await h.dump()
    assert.deepEqual(
      dump.split('\n').filter((line) => leaks(line, p).length),
      [],
    )
    const trace = await h.req('GET', `/v1/events/${eventId}`)
    assert.equal(trace.status, 200, trace.text)
    const ud = (trace.body as { event: { event: { user_data: Record<string, unknown> } } }).event.event
      .user_data
    assert.deepEqual(ud.email_address, [sha(p.email.trim().toLowerCase())])
    assert.deepEqual(ud.phone_numbers, [sha(p.e164), sha(p.e164)])
    assert.equal(ud.event_ip_address, undefined)
    assert.equal(ud.event_user_agent, undefined)
    assert.deepEqual((await h.req('GET', '/v1/stats')).body, stats.body)
    const audit = await h.req('GET', '/v1/audit')
    assert.equal((audit.body as { entries: Array<{ action: string }> }).entries[0].action, 'retention')
  })
})

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`a number as its own country writes it, calls.default_region GB (${kind})`, () => {
    let receiver: Receiver
    let h: Harness
    before(async () => {
      receiver = await startReceiver()
      h = await start(kind, receiver, 'calls: { default_region: GB }')
    })
    after(async () => {
      await h.close()
      await receiver.close()
    })

    /** Rows still holding 7700900123 in any grouping (or 07700…): what neither pass may leave. */
    const leftovers = (dump: string) =>
      dump
        .split('\n')
        .filter((line) =>
          /7\D{0,3}7\D{0,3}0\D{0,3}0\D{0,3}9\D{0,3}0\D{0,3}0\D{0,3}1\D{0,3}2\D{0,3}3/.test(line),
        )

    /** A website lead with the number written twice (international, national) and a postback with it. */
    async function plantGb(tag: string) {
      const ev = await h.req('POST', '/v1/events', {
        data_set_id: 'acme',
        id: `gb-${tag}`,
        timestamp: Math.floor(Date.now() / 1000),
        event_type: 'generate_lead',
        source: 'website',
        user_data: { phone_numbers: ['+44 7700 900123', '07700 900123'] },
      })
      assert.equal(ev.status, 200, ev.text)
      const pb = await h.req(
        'GET',
        `/v1/sources/cc/postback?call_id=CA-gb-${tag}&disposition=Sale&value=10&caller=${encodeURIComponent('07700 900123')}&token=${PB_TOKEN}`,
        undefined,
        { authorization: '' },
      )
      assert.equal(pb.status, 200, pb.text)
      return (ev.body as { event_id: string }).event_id
    }

    test('a subject deletion finds it in every format it was stored in', async () => {
      await plantGb(`del-${kind}`)
      assert.ok(leftovers(await h.dump()).length > 0, 'planted')
      const res = await h.req('POST', '/v1/subjects/delete', { phone: '+447700900123' })
      assert.equal(res.status, 200, res.text)
      assert.deepEqual(leftovers(await h.dump()), [])
    })

    if (kind === 'sqlite')
      test('retention hashes it as the E.164 number it is, as platforms and deletions know it', async () => {
        const eventId = await plantGb('retention')
        await h.app.store.scrubExpired(Date.now() + 60_000, Date.now(), { region: 'GB' })
        assert.deepEqual(leftovers(await h.dump()), [])
        const trace = await h.req('GET', `/v1/events/${eventId}`)
        const ud = (trace.body as { event: { event: { user_data: Record<string, unknown> } } }).event.event
          .user_data
        assert.deepEqual(ud.phone_numbers, [sha('+447700900123'), sha('+447700900123')])
      })
  })
}
