/**
 * Match-rate alerts against real receivers on loopback: Standard Webhooks signatures checked with the
 * `standardwebhooks` package, a Slack-style text, retries, the SSRF guard; and the claim that lets one node
 * of several send each change, on SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.ts'
import { startReceiver } from '../../test/helpers/receiver.ts'
import { createHttpClient, type HttpClient } from '../destinations/http.ts'
import { openPostgresStore } from '../store/postgres/index.ts'
import { openSqliteStore } from '../store/sqlite/index.ts'
import type { Store } from '../store/types.ts'
import { type AlertTarget, claimInStore, createAlerts } from './alerts.ts'
import type { MatchRateCheck } from './match-rate.ts'

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
const check: MatchRateCheck = {
  campaign: 'mortgage-ny',
  destination: 'meta',
  current: { reported: 25, matched: 5, rate: 0.2 },
  baseline: { reported: 40, matched: 40, rate: 1 },
  alert: true,
  measured: true,
}

describe('match-rate alerts', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  const clients: HttpClient[] = []
  const http = (allowPrivate: boolean) => {
    const c = createHttpClient({ allowPrivate })
    clients.push(c)
    return c
  }
  before(async () => {
    receiver = await startReceiver()
  })
  after(async () => {
    await receiver.close()
    for (const c of clients) await c.close()
  })

  function alerts(targets: AlertTarget[], claim = async () => true) {
    const warnings: Array<Record<string, unknown>> = []
    const a = createAlerts({
      targets,
      http,
      log: { warn: (obj) => warnings.push(obj as Record<string, unknown>) },
      claim,
      retryDelaysMs: [10, 10, 10],
    })
    return { a, warnings }
  }

  test('signed per Standard Webhooks, retried with the same id; Slack gets a text', async () => {
    receiver.received.length = 0
    receiver.script([{ status: 503 }, { status: 200 }, { status: 200 }])
    const { a, warnings } = alerts([
      { url: `${receiver.url}/hook`, format: 'standard_webhooks', secret: SECRET, allow_private: true },
      { url: `${receiver.url}/slack/T000/B000/XXXX`, format: 'slack', allow_private: true },
    ])
    await a.matchRate('dropped', check, { drop: 0.15 })
    assert.deepEqual(warnings, [])
    const hooks = receiver.received.filter((r) => r.url === '/hook')
    assert.equal(hooks.length, 2, 'the 503 was retried')
    assert.equal(hooks[0].headers['webhook-id'], hooks[1].headers['webhook-id'])
    const verified = new Webhook(SECRET).verify(
      hooks[1].body,
      hooks[1].headers as Record<string, string>,
    ) as {
      type: string
      data: Record<string, unknown>
    }
    assert.equal(verified.type, 'alert.match_rate_dropped')
    assert.deepEqual(verified.data, {
      campaign: 'mortgage-ny',
      destination: 'meta',
      current: check.current,
      baseline: check.baseline,
      drop: 0.15,
    })
    const slack = receiver.received.find((r) => r.url.startsWith('/slack/'))
    assert.ok(slack)
    assert.equal(slack.headers['webhook-signature'], undefined)
    assert.match(
      JSON.parse(slack.body).text,
      /^closeloop: the match rate of meta · mortgage-ny dropped to 20% \(baseline 100%, 25 conversions/,
    )
  })

  test('a 4xx is not retried; 5xx are, four attempts in all; both are logged without the URL', async () => {
    receiver.received.length = 0
    receiver.script([{ status: 400 }])
    const bad = alerts([{ url: `${receiver.url}/slack/secret-path`, format: 'slack', allow_private: true }])
    await bad.a.matchRate('recovered', { ...check, alert: false }, { drop: 0.15 })
    assert.equal(receiver.received.length, 1)
    assert.equal(bad.warnings[0].status, 400)
    assert.equal(bad.warnings[0].attempts, 1)
    receiver.received.length = 0
    receiver.script([{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }, { status: 200 }])
    const down = alerts([
      { url: `${receiver.url}/hook`, format: 'standard_webhooks', secret: SECRET, allow_private: true },
    ])
    await down.a.matchRate('dropped', check, { drop: 0.15 })
    assert.equal(receiver.received.length, 4)
    assert.equal(down.warnings[0].attempts, 4)
    assert.doesNotMatch(JSON.stringify([...bad.warnings, ...down.warnings]), /secret-path/)
  })

  test('a loopback receiver without allow_private is refused by the SSRF guard; an unclaimed alert is not sent', async () => {
    receiver.received.length = 0
    const guarded = alerts([{ url: `${receiver.url}/hook`, format: 'standard_webhooks', secret: SECRET }])
    await guarded.a.matchRate('dropped', check, { drop: 0.15 })
    assert.equal(receiver.received.length, 0)
    assert.match(String(guarded.warnings[0].error), /^E_SSRF/)
    assert.equal(guarded.warnings[0].attempts, 1, 'a refusal is not retried')
    const unclaimed = alerts(
      [{ url: `${receiver.url}/hook`, format: 'slack', allow_private: true }],
      async () => false,
    )
    await unclaimed.a.matchRate('dropped', check, { drop: 0.15 })
    assert.equal(receiver.received.length, 0)
  })
})

describe('one node sends each change', () => {
  let dir: string
  let db: TestDatabase
  const stores: Store[] = []
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'closeloop-alerts-'))
    db = await createTestDatabase()
  })
  after(async () => {
    for (const s of stores) await s.close()
    rmSync(dir, { recursive: true, force: true })
    await db.drop()
  })

  for (const kind of ['sqlite', 'postgres'] as const)
    test(`${kind}: of many nodes claiming a change at once, one wins; the same state again, none`, async () => {
      const open = async () => {
        const s = kind === 'sqlite' ? openSqliteStore(join(dir, 'a.db')) : await openPostgresStore(db.url)
        stores.push(s)
        return s
      }
      const a = await open()
      await a.migrate()
      const b = await open()
      const claims = [claimInStore(a), claimInStore(b)]
      const key = `alert:match_rate:${JSON.stringify(['ny', 'meta'])}`
      const race = (state: 'dropped' | 'recovered') =>
        Promise.all(Array.from({ length: 10 }, (_, i) => claims[i % 2](key, state)))
      assert.equal((await race('dropped')).filter(Boolean).length, 1)
      assert.equal(
        (await race('dropped')).filter(Boolean).length,
        0,
        'a restarted node does not send it again',
      )
      assert.equal((await race('recovered')).filter(Boolean).length, 1)
      assert.equal((await race('recovered')).filter(Boolean).length, 0)
      // a pair that never dropped has nothing to recover from
      assert.equal(
        await claims[1](`alert:match_rate:${JSON.stringify(['ny', 'tiktok'])}`, 'recovered'),
        false,
      )
      assert.equal(await claims[0](`alert:match_rate:${JSON.stringify(['ny', 'google'])}`, 'dropped'), true)
    })
})
