/**
 * The dashboard in a real browser (Debian's chromium): it connects with an API key and shows delivery
 * counts, destination health and dead letters, replays a dead letter, traces an event, marks the
 * figures a large PostgreSQL table estimated (≈), and shows the match rate with its alert.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import type { Browser, Page } from 'playwright-core'
import { openPostgresStore } from '../../src/store/postgres/index.ts'
import { API_KEY, clearOfMidnight, ecapiEvent, eventually, startApp, type TestApp } from '../helpers/app.ts'
import { browserUnavailable, launchChromium } from '../helpers/browser.ts'
import { deliverAt } from '../helpers/deliveries.ts'
import { createTestDatabase } from '../helpers/postgres.ts'
import { startReceiver } from '../helpers/receiver.ts'

/** Opens the dashboard and connects with the API key; resolves once the counts are shown. */
async function connect(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage()
  await page.goto(url)
  await page.fill('#key', API_KEY)
  await page.click('#save')
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('connected'))
  return page
}

/** The cards as `{ label: value }`. */
const cards = (page: Page) =>
  page.$$eval('#counts .card', (els) =>
    Object.fromEntries(
      els.map((e) => [e.querySelector('span')?.textContent, e.querySelector('b')?.textContent]),
    ),
  )

describe('the dashboard in a real browser', { skip: browserUnavailable() }, () => {
  let browser: Browser
  before(async () => {
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
  })

  test('counts, a dead letter replayed, and a trace', async () => {
    const receiver = await startReceiver()
    receiver.setDefault({ status: 400, body: 'bad request' })
    const app: TestApp = await startApp(`
destinations:
  pb: { type: postback, url: "${receiver.url}/pb?e={event_id}", allow_private: true }
routes: [ { signals: ["*"], to: [pb] } ]
`)
    try {
      const res = await app.post('/v1/events', { events: [ecapiEvent(), ecapiEvent()] })
      assert.equal(res.status, 200, res.text)
      const eventId = (res.body as { results: Array<{ event_id: string }> }).results[0].event_id
      await eventually(async () => (await app.app.store.counts()).deliveries.dead === 2, 10_000, 'two dead')
      const page = await connect(browser, app.url)
      assert.deepEqual(await cards(page), {
        pending: '0',
        in_flight: '0',
        delivered: '0',
        dead: '2',
        events: '2',
        signals: '2',
      })
      assert.equal(await page.locator('#dead tr').count(), 2)
      assert.match((await page.locator('#dests').textContent()) ?? '', /pb.*postback/)
      // replay one: the receiver now accepts it
      receiver.setDefault({ status: 200, body: 'ok' })
      await page.locator('#dead button').first().click()
      await eventually(
        async () => (await app.app.store.counts()).deliveries.delivered === 1,
        10_000,
        'replayed',
      )
      await page.click('#save')
      await page.waitForFunction(() => document.querySelectorAll('#dead tr').length === 1)
      // the trace of an event, from raw input to attempts
      await page.fill('#eventId', eventId)
      await page.click('#trace')
      await page.waitForFunction(
        (id) => document.getElementById('traceOut')?.textContent?.includes(id),
        eventId,
      )
      const trace = JSON.parse((await page.locator('#traceOut').textContent()) ?? '{}')
      assert.equal(trace.event.id, eventId)
      assert.equal(trace.deliveries[0].destination, 'pb')
      await page.close()
    } finally {
      await app.close()
      await receiver.close()
    }
  })

  test('the match rate per campaign and destination, a drop marked', async () => {
    const receiver = await startReceiver()
    const app: TestApp = await startApp(`
destinations:
  pb: { type: postback, url: "${receiver.url}/pb?cid={click_id}", allow_private: true }
routes: [ { signals: ["*"], to: [pb] } ]
`)
    try {
      await clearOfMidnight(['UTC'])
      // over HTTP now: one conversion with a click id, one without
      const sent = [ecapiEvent({ ext: { click_ids: { gclid: 'Cj0-dash' } } }), ecapiEvent()]
      assert.equal((await app.post('/v1/events', { events: sent })).status, 200)
      await eventually(
        async () => (await app.app.store.counts()).deliveries.delivered === 2,
        10_000,
        'delivered',
      )
      // history only the store can write: campaign auto matched 30 of 30 three days ago, 0 of 20 an hour ago
      const store = app.app.store
      await deliverAt(store, Date.now() - 72 * 3_600_000, 30, ['gclid'], {
        campaign: 'auto',
        destination: 'meta',
      })
      await deliverAt(store, Date.now() - 3_600_000, 20, [], { campaign: 'auto', destination: 'meta' })
      const page = await connect(browser, app.url)
      await page.waitForFunction(() => document.querySelectorAll('#match tr').length === 2)
      const rows = await page.$$eval('#match tr', (trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      )
      assert.deepEqual(rows, [
        ['auto', 'meta', '0 % of 20', '100 % of 30', 'dropped ≥ 15 points'],
        ['(none)', 'pb', '50 % of 2', '–', 'ok'],
      ])
      assert.match((await page.locator('#matchWindows').textContent()) ?? '', /against the 7 days before$/)
      // the week's reconciliation: newest first; the history written three days ago is there too
      await page.waitForFunction(() => document.querySelectorAll('#recon tr').length >= 2)
      const recon = await page.$$eval('#recon tr', (trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      )
      const today = new Date().toISOString().slice(0, 10)
      assert.deepEqual(
        recon.find((r) => r[0] === today && r[3] === 'pb'),
        [today, '(none)', 'purchase', 'pb', '2', '2', '0', '0', '0', '240 USD'],
      )
      assert.ok(
        recon.some((r) => r[1] === 'auto' && r[3] === 'meta' && r[5] === '30'),
        JSON.stringify(recon),
      )
      await page.close()
    } finally {
      await app.close()
      await receiver.close()
    }
  })

  test('figures a large PostgreSQL table estimated are marked ≈; the rest are exact', async () => {
    const db = await createTestDatabase()
    // every table counts as large here, so whatever ANALYZE has seen is given as an estimate
    const store = await openPostgresStore(db.url, { exactCountLimit: 1 })
    await store.migrate()
    const app = await startApp('', { store })
    const c = new pg.Client({ connectionString: db.url })
    try {
      await c.connect()
      for (const t of ['events', 'signals', 'deliveries'])
        await c.query(`ALTER TABLE ${t} SET (autovacuum_enabled = false)`)
      assert.equal(
        (await app.post('/v1/events', { events: [ecapiEvent(), ecapiEvent(), ecapiEvent()] })).status,
        200,
      )
      for (const t of ['events', 'signals', 'deliveries']) await c.query(`ANALYZE ${t}`)
      const page = await connect(browser, app.url)
      const shown = await cards(page)
      assert.equal(shown.events, '≈ 3')
      assert.equal(shown.signals, '≈ 3')
      assert.equal(shown.dead, '0')
      await page.close()
    } finally {
      await c.end()
      await app.close()
      await db.drop()
    }
  })
})
