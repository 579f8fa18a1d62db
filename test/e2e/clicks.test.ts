/**
 * Click capture and DNI over HTTP: refusals with reasons, site keys bound to origins, first-touch precedence,
 * a pool number per visitor, and the call join by DNI number and by a form's phone.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { eventually, startApp, type TestApp } from '../helpers/app.ts'
import { startReceiver } from '../helpers/receiver.ts'

const UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36'
const SITE = 'pk_test_site_key_123'
const ORIGIN = 'https://lp.acme.example'
const GCLID = 'Cj0KCQiA_test-gclid_0123456789'

describe('click capture and DNI', () => {
  let app: TestApp
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  before(async () => {
    receiver = await startReceiver()
    app = await startApp(`
attribution:
  data_set_id: acme
  site_keys: [{ name: lp, key: ${SITE}, origins: ["${ORIGIN}"] }]
  dni:
    pools:
      mortgage: { numbers: ["+18005550101", "+18005550102"], hold_minutes: 30, default_number: "+18005550100" }
      loans: { numbers: ["+18005550201"], hold_minutes: 30 }
      heloc: { numbers: ["+18005550301"], hold_minutes: 30 }
sources:
  cc: { type: postback, token: cc-token-12345, data_set_id: acme }
destinations:
  pb: { type: postback, url: "${receiver.url}/pb?s={signal}&c={call_id}&g={gclid}", allow_private: true }
routes: [ { signals: [call_connected, "disposition:*"], to: [pb] } ]
`)
  })
  after(async () => {
    await app.close()
    await receiver.close()
  })

  const click = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    app.post('/v1/clicks', body, { 'user-agent': UA, ...headers })

  test('bots, malformed click ids and a wrong origin are refused with the reason and path', async () => {
    const bot = await click(
      { visitor_id: 'v_botbotbot1', url: `https://x.example/?gclid=${GCLID}` },
      { 'user-agent': 'Googlebot/2.1' },
    )
    assert.equal(bot.status, 400)
    assert.deepEqual((bot.body as { error: { details: unknown[] } }).error.details, [
      { path: '/user_agent', message: 'bot traffic is not a click' },
    ])
    const bad = await click({ visitor_id: 'v_malformed1', url: 'https://x.example/?gclid=<script>' })
    assert.equal(bad.status, 400)
    assert.equal((bad.body as { error: { details: Array<{ path: string }> } }).error.details[0].path, '/url')
    const shortVisitor = await click({ visitor_id: 'x' })
    assert.equal(
      (shortVisitor.body as { error: { details: Array<{ path: string }> } }).error.details[0].path,
      '/visitor_id',
    )
    const wrongOrigin = await app.request(
      'POST',
      '/v1/clicks',
      JSON.stringify({ visitor_id: 'v_origin0001', key: SITE }),
      {
        'content-type': 'text/plain',
        authorization: '',
        origin: 'https://evil.example',
        'user-agent': UA,
      },
    )
    assert.equal(wrongOrigin.status, 401)
  })

  test('a site key from its origin gets CORS and a pool number; the same visitor keeps it', async () => {
    // one click time for both posts: a retry is a duplicate within its minute, and two posts that straddled
    // a minute boundary of the server's clock would be two clicks
    const clickedAt = Date.now()
    const send = () =>
      app.request(
        'POST',
        '/v1/clicks',
        JSON.stringify({
          visitor_id: 'v_browser0001',
          url: `${ORIGIN}/?gclid=${GCLID}`,
          campaign: 'mortgage',
          key: SITE,
          clicked_at: clickedAt,
        }),
        {
          'content-type': 'text/plain',
          authorization: '',
          origin: ORIGIN,
          'user-agent': UA,
        },
      )
    const first = await send()
    assert.equal(first.status, 200, first.text)
    assert.equal(first.headers.get('access-control-allow-origin'), ORIGIN)
    const number = (first.body as { number: string }).number
    assert.match(number, /^\+1800555010[12]$/)
    const again = await send()
    assert.equal((again.body as { status: string }).status, 'duplicate')
    assert.equal((again.body as { number: string }).number, number)
  })

  test('a call to the visitor’s pool number carries the first-touch gclid (attribution dni)', async () => {
    const first = await click({
      visitor_id: 'v_caller00001',
      url: `${ORIGIN}/?gclid=${GCLID}x`,
      campaign: 'mortgage',
    })
    await click({ visitor_id: 'v_caller00001', url: `${ORIGIN}/?gclid=LATER_gclid_0123456789` })
    const number = (first.body as { number: string }).number
    const res = await app.request(
      'GET',
      `/v1/sources/cc/postback?call_id=CAdni1&disposition=Sale&value=90&token=cc-token-12345&tracking_number=${encodeURIComponent(number)}&caller=%2B13125550111`,
      undefined,
      { authorization: '' },
    )
    assert.equal(res.status, 200, res.text)
    const hit = await eventually(() => receiver.received.find((r) => r.url.includes('c=CAdni1')), 5000)
    assert.equal(
      new URL(hit.url, 'http://x').searchParams.get('g'),
      `${GCLID}x`,
      'first touch, not the later click',
    )
  })

  test('a form that carried the caller’s phone joins a later call from that phone (attribution phone)', async () => {
    await click({ visitor_id: 'v_formfill001', url: `${ORIGIN}/?gclid=FORM_gclid_0123456789` })
    const form = await app.post('/v1/events', {
      data_set_id: 'acme',
      id: 'form-1',
      timestamp: Math.floor(Date.now() / 1000),
      event_type: 'generate_lead',
      source: 'website',
      user_data: { phone_numbers: '(415) 555-0199' },
      ext: { visitor_id: 'v_formfill001' },
    })
    assert.equal(form.status, 200, form.text)
    const res = await app.request(
      'GET',
      '/v1/sources/cc/postback?call_id=CAform1&disposition=Sale&value=50&token=cc-token-12345&caller=%2B14155550199',
      undefined,
      { authorization: '' },
    )
    assert.equal(res.status, 200, res.text)
    const hit = await eventually(() => receiver.received.find((r) => r.url.includes('c=CAform1')), 5000)
    assert.equal(new URL(hit.url, 'http://x').searchParams.get('g'), 'FORM_gclid_0123456789')
    const metrics = (await app.get('/metrics')).text
    assert.match(metrics, /closeloop_dni_assignments_total\{campaign="mortgage",result="pooled"\} [1-9]/)
    // counted once per answered call, however often a store derived it
    assert.match(metrics, /closeloop_call_attribution_total\{method="phone"\} 1\n/)
  })

  /** A postback call to `number` and the gclid its disposition was delivered with. */
  const callGclid = async (callId: string, number: string, caller: string) => {
    const res = await app.request(
      'GET',
      `/v1/sources/cc/postback?call_id=${callId}&disposition=Sale&value=1&token=cc-token-12345&tracking_number=${encodeURIComponent(number)}&caller=${encodeURIComponent(caller)}`,
      undefined,
      { authorization: '' },
    )
    assert.equal(res.status, 200, res.text)
    const hit = await eventually(() => receiver.received.find((r) => r.url.includes(`c=${callId}`)), 5000)
    return new URL(hit.url, 'http://x').searchParams.get('g')
  }

  test('a click is in attribution.data_set_id: another data_set_id is refused, the same one is joined', async () => {
    const other = await click({
      visitor_id: 'v_dataset0001',
      data_set_id: 'acme-web',
      url: `${ORIGIN}/?gclid=DATASET_gclid_0123456789`,
      campaign: 'loans',
    })
    assert.equal(other.status, 400, other.text)
    assert.deepEqual((other.body as { error: { details: unknown[] } }).error.details, [
      { path: '/data_set_id', message: 'must be attribution.data_set_id or left out' },
    ])
    const same = await click({
      visitor_id: 'v_dataset0001',
      data_set_id: 'acme',
      url: `${ORIGIN}/?gclid=DATASET_gclid_0123456789`,
      campaign: 'loans',
    })
    assert.equal(same.status, 200, same.text)
    const number = (same.body as { number: string }).number
    assert.equal(number, '+18005550201')
    assert.equal(await callGclid('CAdataset1', number, '+13125550112'), 'DATASET_gclid_0123456789')
  })

  test('server-to-server clicks arriving out of order: the earlier click time is the first touch', async () => {
    const now = Date.now()
    await click({ visitor_id: 'v_order000001', gclid: 'LATER_click_gclid_0001', clicked_at: now - 60_000 })
    const earlier = await click({
      visitor_id: 'v_order000001',
      gclid: 'FIRST_click_gclid_0001',
      clicked_at: now - 3_600_000,
      campaign: 'heloc',
    })
    assert.equal(earlier.status, 200, earlier.text)
    const number = (earlier.body as { number: string }).number
    assert.equal(number, '+18005550301')
    assert.equal(await callGclid('CAorder1', number, '+13125550113'), 'FIRST_click_gclid_0001')
  })
})

describe('browser traffic: a public site key within limits', () => {
  let app: TestApp
  before(async () => {
    app = await startApp(`
server: { trust_proxy: 1 }
attribution:
  data_set_id: acme
  browser_rate_limit: { per_s: 0.01, burst: 3 }
  site_keys: [{ name: lp, key: ${SITE}, origins: ["${ORIGIN}"] }]
  dni:
    pools:
      p:
        numbers: ["+18005550401", "+18005550402", "+18005550403"]
        hold_minutes: 30
        default_number: "+18005550400"
        max_holds_per_address: 2
`)
  })
  after(() => app.close())

  /** `GET /v1/dni` as a browser at `address` (behind the one trusted proxy) would send it. */
  const number = (visitor: string, address: string, ua = UA) =>
    app.request('GET', `/v1/dni?campaign=p&visitor=${visitor}&key=${SITE}`, undefined, {
      authorization: '',
      origin: ORIGIN,
      'user-agent': ua,
      'x-forwarded-for': address,
    })
  const got = async (visitor: string, address: string, ua?: string) => {
    const r = await number(visitor, address, ua)
    assert.equal(r.status, 200, r.text)
    return r.body as { number: string; pooled: boolean }
  }

  test('a crawler gets the default number; one address holds at most its cap; a flood is refused 429', async () => {
    // search engines run the tag: a crawler must not hold a number no person will call
    const bot = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'
    assert.deepEqual(await got('v_crawler0001', '192.0.2.50', bot), { number: '+18005550400', pooled: false })
    // one sender cycling visitor ids: two numbers, then the default; a visitor it holds for keeps its own
    const a = '203.0.113.7'
    const first = await got('v_cycle00001', a)
    assert.equal((await got('v_cycle00002', a)).pooled, true)
    assert.deepEqual(await got('v_cycle00003', a), { number: '+18005550400', pooled: false })
    // another address still finds the third number free
    assert.equal((await got('v_other00001', '198.51.100.2')).pooled, true)
    // past its burst of 3 requests, the first address is refused, told when to come back
    const flood = await number('v_cycle00001', a)
    assert.equal(flood.status, 429)
    assert.equal((flood.body as { error: { code: string } }).error.code, 'E_RATE_LIMITED')
    assert.ok(Number(flood.headers.get('retry-after')) >= 1)
    assert.equal(first.pooled, true)
    // a server with the API key is not a browser: no budget
    for (let i = 0; i < 5; i++) {
      const r = await app.request('GET', '/v1/dni?campaign=p&visitor=v_server0001', undefined, {
        'x-forwarded-for': a,
      })
      assert.equal(r.status, 200, r.text)
    }
    const metrics = (await app.get('/metrics')).text
    assert.match(metrics, /closeloop_dni_assignments_total\{campaign="p",result="bot"\} 1\n/)
    assert.match(metrics, /closeloop_dni_assignments_total\{campaign="p",result="limited"\} 1\n/)
    assert.match(metrics, /closeloop_browser_rate_limited_total 1\n/)
  })
})
