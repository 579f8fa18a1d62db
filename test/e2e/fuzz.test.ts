/**
 * Hostile and malformed input against every inbound route of a real server (SQLite or PostgreSQL, loopback
 * HTTP, the Meta and Google Data Manager mocks and a postback/webhook receiver behind it): seeded mutations
 * of valid ECAPI events, batches, clicks, signed Twilio callbacks, call-platform webhooks (every preset, and
 * a generic field map), disposition postbacks, subject deletions and operator queries.
 *
 * What must hold, whatever arrives: no answer is a 5xx; every refusal carries a catalogued code with its
 * catalogued status; an accepted event sent again is a duplicate of the same event; every delivery the
 * accepted inputs produced settles (delivered, dead or skipped, never stuck), and none reaches a receiver
 * twice; retention and a subject deletion then get through every stored row.
 *
 * `FUZZ_SEED` and `FUZZ_RUNS` replay or widen a run (CI uses the defaults below).
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import twilio from 'twilio'
import { ERRORS } from '../../src/model/errors.ts'
import { openPostgresStore } from '../../src/store/postgres/index.ts'
import type { Store } from '../../src/store/types.ts'
import { API_KEY, ecapiEvent, eventually, startApp, type TestApp, type TestResponse } from '../helpers/app.ts'
import { mangleText, mutate, pick, type Rand, seeded } from '../helpers/fuzz.ts'
import { startAdPlatforms } from '../helpers/platforms.ts'
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts'
import { startReceiver } from '../helpers/receiver.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 20261206)
const RUNS = Number(process.env.FUZZ_RUNS ?? 600)
const TW_TOKEN = 'twilio-auth-token-fuzz-0123456789'
const PB_TOKEN = 'callcenter-token-fuzz'
const RINGBA_SECRET = 'ringba-secret-fuzz'
const CALLRAIL_KEY = 'callrail-signing-key-fuzz'
const PBX_TOKEN = 'pbx-token-fuzz-123'
/** The presets' own sample payloads: what those platforms send, to mutate. */
const sample = (name: string) =>
  JSON.parse(
    readFileSync(new URL(`../../src/sources/webhook/presets/${name}.sample.json`, import.meta.url), 'utf8'),
  )
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36'

interface Sent {
  what: string
  request: string
  res: TestResponse
}

/** A rich valid ECAPI event: PII, click ids, a call extension, properties; the mutations start from here. */
function richEvent(rand: Rand) {
  const call = rand() < 0.5
  return ecapiEvent({
    event_type: pick(rand, ['purchase', 'contact', 'generate_lead', 'custom']),
    ...(rand() < 0.2 ? { custom_event: 'qualified_call' } : {}),
    source: call ? 'phone_call' : 'website',
    user_data: {
      email_address: ['John.Doe@Gmail.com'],
      phone_numbers: '+1 (212) 555-0100',
      address: {
        first_name: 'John',
        last_name: 'Doe',
        city: 'New York',
        country_code: 'US',
        postal_code: '10001',
      },
      event_ip_address: '203.0.113.9',
      event_user_agent: UA,
      uids: [{ id: 'crm-42', source: 'crm' }],
    },
    properties: {
      transaction_id: 'T-1',
      items: [{ id: 'sku', price: 10, quantity: 2 }],
      page_url: 'https://a.example/x',
    },
    ext: {
      click_ids: { gclid: 'Cj0KCQiAfuzz', fbclid: 'IwARfuzz', clicked_at: Date.now() - 60_000 },
      ...(call
        ? {
            call: {
              call_id: `CAfuzz${Math.floor(rand() * 1e9)}`,
              status: 'completed',
              caller: '+12125550100',
              campaign: 'fuzz',
              answered_at: Date.now() - 50_000,
              duration_s: 95,
              disposition: 'Sale',
              revenue: 120,
            },
          }
        : {}),
    },
  })
}

const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000')

for (const store of ['sqlite', 'postgres'] as const)
  describe(`hostile and malformed input on every route (${store})`, () => {
    let app: TestApp
    let receiver: Awaited<ReturnType<typeof startReceiver>>
    let ads: Awaited<ReturnType<typeof startAdPlatforms>>
    const sent: Sent[] = []
    /** Accepted single events: the exact body and the event it became. */
    const accepted: { body: string; eventId: string }[] = []

    let db: TestDatabase | undefined

    before(async () => {
      let pgStore: Store | undefined
      if (store === 'postgres') {
        db = await createTestDatabase()
        pgStore = await openPostgresStore(db.url)
        await pgStore.migrate()
      }
      receiver = await startReceiver()
      ads = await startAdPlatforms()
      app = await startApp(
        `
delivery: { sweep_interval_ms: 50, retry_schedule_s: [0.05, 0.05], jitter: 0 }
sources:
  tw: { type: twilio, auth_token: ${TW_TOKEN}, data_set_id: acme, campaign: fuzz }
  cc: { type: postback, token: ${PB_TOKEN}, data_set_id: acme }
  ringba: { type: webhook, preset: ringba, secret: ${RINGBA_SECRET}, data_set_id: acme }
  callrail: { type: webhook, preset: callrail, secret: ${CALLRAIL_KEY}, data_set_id: acme }
  invoca: { type: webhook, preset: invoca, auth: none, data_set_id: acme }
  retreaver: { type: webhook, preset: retreaver, auth: none, data_set_id: acme }
  pbx:
    type: webhook
    secret: ${PBX_TOKEN}
    data_set_id: acme
    map:
      call_id: callId
      caller: { path: "from | ani", transform: phone }
      status: { path: state, map: { up: answered, down: completed } }
      duration_s: { path: secs, transform: seconds }
      value: { path: amount, transform: money }
      disposition: outcome
campaigns:
  default: { qualified_after_s: 60 }
attribution:
  data_set_id: acme
  site_keys: [{ name: lp, key: site-key-fuzz, origins: ["https://lp.example"] }]
  dni: { pools: { fuzz: { numbers: ["+18005550101", "+18005550102"], hold_minutes: 30, default_number: "+18005550100" } } }
destinations:
  pb:
    type: postback
    url: "${receiver.url}/pb?s={signal}&sid={event_id}&v={value}&c={call_id}&g={gclid}"
    allow_private: true
  hook: { type: webhook, url: "${receiver.url}/hook", secret: whsec_Zm1zYWZ6ZmRzYWZzZGFmc2RhZnNkYWZzZGFm, allow_private: true }
${ads.destinations}
routes:
  - { signals: ["*"], to: [pb, hook, meta, google] }
`,
        { store: pgStore },
      )
    })
    after(async () => {
      await app?.close()
      await receiver?.close()
      await ads?.close()
      await db?.drop()
    })

    async function send(
      what: string,
      method: string,
      path: string,
      body?: string,
      headers: Record<string, string> = {},
    ) {
      const res = await app.request(method, path, body, headers)
      sent.push({ what, request: `${method} ${path} ${body ?? ''}`, res })
      return res
    }

    const json = { 'content-type': 'application/json' }

    const inputs: Record<string, (rand: Rand) => Promise<unknown>> = {
      async event(rand) {
        const mutated = rand() < 0.15 ? richEvent(rand) : mutate(rand, richEvent(rand))
        let body = JSON.stringify(mutated) ?? 'null'
        if (rand() < 0.1) body = mangleText(rand, body)
        const res = await send('event', 'POST', '/v1/events', body, json)
        const answer = res.body as { status?: string; event_id?: string }
        // an event without an id is a new event each time it is sent (ECAPI §5): only those with one dedupe
        const hasId = typeof mutated === 'object' && mutated !== null && 'id' in mutated
        if (res.status === 200 && answer.status === 'accepted' && answer.event_id && hasId)
          accepted.push({ body, eventId: answer.event_id })
      },
      async batch(rand) {
        const events = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => richEvent(rand))
        let body = JSON.stringify(mutate(rand, { events })) ?? 'null'
        if (rand() < 0.1) body = mangleText(rand, body)
        await send('batch', 'POST', '/v1/events', body, json)
      },
      async click(rand) {
        const click = {
          visitor_id: `v_fuzz${Math.floor(rand() * 1e9)}`,
          url: 'https://lp.example/landing?gclid=Cj0KCQiAfuzzclick000000000&utm_campaign=fuzz',
          referrer: 'https://www.google.com/',
        }
        const body = JSON.stringify(rand() < 0.2 ? click : mutate(rand, click)) ?? 'null'
        await send('click', 'POST', '/v1/clicks', body, { ...json, 'user-agent': UA })
      },
      async twilio(rand) {
        const call = `CA${Math.floor(rand() * 1e12)
          .toString(16)
          .padStart(32, '0')}`
        const base: Record<string, string> = {
          AccountSid: 'AC0123456789abcdef0123456789abcdef',
          CallSid: call,
          CallStatus: pick(rand, ['ringing', 'in-progress', 'completed', 'busy', 'no-answer']),
          From: '+12125550123',
          To: '+18005550199',
          Direction: 'inbound',
          CallDuration: '75',
          SequenceNumber: '2',
          Timestamp: rfc2822(Date.now() - 30_000),
        }
        // strings only, as a form carries them; the signature is valid, so the mapping is what is tested
        const params = Object.fromEntries(
          Object.entries((mutate(rand, base) ?? {}) as Record<string, unknown>).map(([k, v]) => [
            k,
            typeof v === 'string' ? v : (JSON.stringify(v) ?? ''),
          ]),
        )
        const url = `${app.url}/v1/sources/tw/twilio`
        const signature =
          rand() < 0.1 ? 'bm90IGEgc2lnbmF0dXJl' : twilio.getExpectedTwilioSignature(TW_TOKEN, url, params)
        await send('twilio', 'POST', '/v1/sources/tw/twilio', new URLSearchParams(params).toString(), {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': signature,
          authorization: '',
        })
      },
      async ringba(rand) {
        const sample = {
          event: 'completed',
          inboundCallId: `RGB${Math.floor(rand() * 1e12)}`,
          callDt: Date.now() - 200_000,
          callConnectionDt: Date.now() - 190_000,
          callCompletedDt: Date.now() - 10_000,
          inboundPhoneNumber: '+12125550000',
          number: '+18885550123',
          campaignName: 'Medicare - Inbound',
          callLengthInSeconds: '185',
          hasConnected: 'true',
          hasConverted: 'true',
          conversionAmount: '45.00',
          payoutAmount: '30.00',
          googleClickId: 'Cj0KCQjwRingbaFuzz',
        }
        const body = JSON.stringify(mutate(rand, sample)) ?? 'null'
        await send('ringba', 'POST', '/v1/sources/ringba/webhook', body, {
          ...json,
          'x-closeloop-token': RINGBA_SECRET,
          authorization: '',
        })
      },
      async platform(rand) {
        const name = pick(rand, ['callrail', 'invoca', 'retreaver', 'pbx'] as const)
        const base =
          name === 'pbx'
            ? {
                callId: `pbx-${Math.floor(rand() * 1e9)}`,
                from: '212-555-0142',
                state: 'down',
                secs: '2:15',
                amount: '$1,250.00',
                outcome: 'Sale',
              }
            : sample(name)
        const body = JSON.stringify(rand() < 0.2 ? base : mutate(rand, base)) ?? 'null'
        const headers: Record<string, string> = { ...json, authorization: '' }
        if (name === 'callrail')
          headers.signature = createHmac('sha1', CALLRAIL_KEY).update(body).digest('base64')
        if (name === 'pbx') headers['x-closeloop-token'] = PBX_TOKEN
        const query =
          name === 'callrail'
            ? `?event=${pick(rand, ['pre_call', 'post_call', 'call_modified', '%00', ''])}`
            : ''
        await send(name, 'POST', `/v1/sources/${name}/webhook${query}`, body, headers)
      },
      async postback(rand) {
        const params = mutate(rand, {
          call_id: `CApb${Math.floor(rand() * 1e9)}`,
          disposition: 'Sale',
          value: '120',
          currency: 'USD',
          token: PB_TOKEN,
        }) as Record<string, unknown>
        const flat = Object.fromEntries(
          Object.entries(params ?? {}).map(([k, v]) => [
            k,
            typeof v === 'string' ? v : (JSON.stringify(v) ?? ''),
          ]),
        )
        const q = new URLSearchParams(flat).toString()
        if (rand() < 0.5)
          await send('postback', 'GET', `/v1/sources/cc/postback?${q}`, undefined, { authorization: '' })
        else
          await send('postback', 'POST', '/v1/sources/cc/postback', q, {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: '',
          })
      },
      async deletion(rand) {
        const subject = mutate(rand, { email: 'John.Doe@Gmail.com', phone: '+1 (212) 555-0100' })
        await send('deletion', 'POST', '/v1/subjects/delete', JSON.stringify(subject) ?? 'null', {
          ...json,
          authorization: `Bearer ${API_KEY}`,
        })
      },
      async query(rand) {
        const odd = () =>
          encodeURIComponent(
            String(
              pick(rand, [
                '',
                '-1',
                '0',
                '1e9',
                'abc',
                '9999-12-31',
                '1969-12-31',
                '\u0000',
                'x'.repeat(3000),
                '2025-02-30',
                'Mars/Olympus',
                'UTC',
                'csv',
                '__proto__',
                '[]',
                '%',
              ]),
            ),
          )
        const path = pick(rand, [
          () => `/v1/deliveries?status=${odd()}&limit=${odd()}&cursor=${odd()}&destination=${odd()}`,
          () => `/v1/deliveries?limit=1&limit=2&status=dead&status=pending`,
          // one odd parameter alone: beside an unknown one it never got past the query's schema
          () => `/v1/deliveries?limit=${odd()}`,
          () => `/v1/audit?limit=${odd()}`,
          () => `/v1/reports/reconciliation?from=${odd()}&to=${odd()}&tz=${odd()}&format=${odd()}`,
          () => `/v1/reports/reconciliation?from=2026-01-01&from=2026-01-02`,
          () => `/v1/reports/match-rate?campaign=${odd()}&destination=${odd()}`,
          () => `/v1/audit?limit=${odd()}&cursor=${odd()}`,
          () => `/v1/events/${odd()}`,
          () => `/v1/dni?campaign=${odd()}&visitor=${odd()}`,
          () => `/v1/stats?x=${odd()}`,
          () => `/v1/deliveries/${odd()}/replay`,
        ])()
        await send('query', path.endsWith('/replay') ? 'POST' : 'GET', path, undefined, {})
      },
    }

    test(`no input answers 5xx, and every refusal carries a catalogued code (seed ${SEED}, ${RUNS} inputs)`, async () => {
      const rand = seeded(SEED)
      const kinds = Object.keys(inputs)
      for (let i = 0; i < RUNS; i++) await inputs[pick(rand, kinds)](rand)

      const failures: string[] = []
      for (const s of sent) {
        const where = `[seed ${SEED}] ${s.what}: ${s.request.slice(0, 200)} → ${s.res.status} ${s.res.text.slice(0, 300)}`
        if (s.res.status >= 500) failures.push(where)
        else if (s.res.status >= 400) {
          const body = s.res.body as { error?: { code?: string }; results?: { error?: { code?: string } }[] }
          // a batch whose every event was refused answers 400 with each event's error (api.md)
          const codes = body?.results ? body.results.map((r) => r.error?.code) : [body?.error?.code]
          for (const code of codes) {
            if (!code || !Object.hasOwn(ERRORS, code)) failures.push(`uncatalogued code: ${where}`)
            else if (!body.results && ERRORS[code as keyof typeof ERRORS].status !== s.res.status)
              failures.push(`status does not match the catalogue: ${where}`)
          }
        }
      }
      assert.deepEqual(failures, [])
      // the mutations must leave some inputs valid, or nothing downstream was exercised
      // every kind of input got through at least once, or its route was never exercised past the refusals
      const through = new Set(sent.filter((s) => s.res.status === 200).map((s) => s.what))
      for (const what of new Set(sent.map((s) => s.what)))
        assert.ok(through.has(what), `no ${what} input was accepted`)
      const ok = sent.filter((s) => s.res.status === 200)
      assert.ok(ok.length > RUNS / 10, `only ${ok.length} of ${sent.length} inputs were accepted`)
      assert.ok(accepted.length > 5, `only ${accepted.length} single events were accepted`)
    })

    test('an accepted event sent again is a duplicate of the same event', async () => {
      for (const a of accepted.slice(0, 40)) {
        const res = await app.request('POST', '/v1/events', a.body, {
          ...json,
          authorization: `Bearer ${API_KEY}`,
        })
        assert.equal(res.status, 200, `${a.body} → ${res.text}`)
        const answer = res.body as { status: string; duplicate_of: string }
        assert.equal(answer.status, 'duplicate', `${a.body.slice(0, 200)} → ${res.text}`)
        assert.equal(answer.duplicate_of, a.eventId)
      }
    })

    test('every delivery settles, and no receiver gets one twice', async () => {
      const stats = await eventually(
        async () => {
          const s = (await app.get('/v1/stats')).body as { deliveries: Record<string, number> }
          return (s.deliveries.pending ?? 0) + (s.deliveries.in_flight ?? 0) === 0 ? s : undefined
        },
        30_000,
        'deliveries to settle',
      )
      assert.ok((stats.deliveries.delivered ?? 0) > 0, JSON.stringify(stats))
      const seen = new Set<string>()
      for (const r of receiver.received) {
        const u = new URL(r.url, 'http://x')
        const key =
          u.pathname === '/pb' ? `pb ${u.searchParams.get('sid')}` : `hook ${r.headers['webhook-id']}`
        assert.ok(!seen.has(key), `${key} arrived twice`)
        seen.add(key)
      }
      const metaIds = ads.graph.accepted.map((a) => String(a.event.event_id))
      assert.equal(new Set(metaIds).size, metaIds.length, 'an event_id reached Meta twice')
      assert.equal((await app.get('/readyz')).status, 200)
    })

    test('retention and a subject deletion get through every stored row: nothing throws, traces still read', async () => {
      const passes: unknown[] = []
      for (let i = 0; i < 50; i++) {
        const counts = await app.app.store.scrubExpired(Date.now() + 60_000, Date.now())
        passes.push(counts)
        if (Object.values(counts).every((n) => !n)) break
      }
      assert.ok(
        Object.values(passes.at(-1) as object).every((n) => !n),
        `retention never finished: ${JSON.stringify(passes)}`,
      )
      const deletion = await app.post('/v1/subjects/delete', {
        email: 'John.Doe@Gmail.com',
        phone: '+1 (212) 555-0100',
      })
      assert.equal(deletion.status, 200, deletion.text)
      for (const a of accepted.slice(0, 40)) {
        const trace = await app.get(`/v1/events/${a.eventId}`)
        assert.equal(trace.status, 200, trace.text)
        // the dedup key stays as sent (a resend must still find it), even when a sender put an email in data_set_id
        const { dedupKey: _, ...event } = (trace.body as { event: { dedupKey: string } }).event
        const rest = JSON.stringify({ ...(trace.body as object), event }).toLowerCase()
        assert.ok(!rest.includes('john.doe@gmail.com'), rest.slice(0, 300))
      }
    })
  })
