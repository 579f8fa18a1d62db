/**
 * Attribution in a real browser: a landing page includes `/t.js`; Debian's chromium opens it from an ad click
 * (gclid + fbclid + UTM); the tag keeps a first-party visitor id, posts the click and swaps the page's phone
 * number for a DNI pool number. A Twilio call to that number (signed by the official `twilio` package) joins
 * the visitor's click, and `call_connected` reaches the local Meta Graph and Google Data Manager with the click
 * ids and the landing page's device. A headless bot is refused and holds no number; a second visitor gets the
 * other pool number and a call to it carries *their* click; a third finds the pool exhausted, keeps the default
 * number, and a call to it is not attributed. A slow page whose number arrives after the tag's answer is
 * swapped too.
 */
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import twilio from 'twilio'
import { eventually, startApp, type TestApp } from '../helpers/app.ts'
import {
  browserUnavailable,
  DESKTOP_CHROME_UA,
  type LandingPage,
  launchChromium,
  startLandingPage,
} from '../helpers/browser.ts'
import { startAdPlatforms } from '../helpers/platforms.ts'

const TWILIO_TOKEN = 'twilio-auth-token-browser-0123456789'
const SITE_KEY = 'pk_live_browser_0123456789'
const CAMPAIGN = 'mortgage-ny'
/** The number printed on the page, and the pool's default (shown when every pool number is held). */
const PAGE_NUMBER = '+18005550100'
const POOL = ['+18005550111', '+18005550122']
const SLOW_CAMPAIGN = 'mortgage-nj'
const SLOW_POOL = ['+18005550133']
// what Google and Meta append to ad clicks: URL-safe base64-ish tokens
const GCLID = 'Cj0KCQjw8--2BhCHARIsAF_w1gxMk7f9Z3y1QH4nCV2r5Kx8yqA0bL6Uo3mXz2VqgY9e8Hn7tR1sD3EaAvYmEALw_wcB'
const GCLID_2 = 'EAIaIQobChMI4v7k1Z2zhgMVQ5JQBh3xYw9aEAAYASAAEgJ7kPD_BwE'
const FBCLID = 'IwZXh0bgNhZW0CMTAAAR2jT9kq7fVb3xLm4NpQ_aem_AbCdEfGhIjKlMnOpQrStUvWxYz0123'
const FBP = 'fb.1.1764979200000.1234567890'
const GA_COOKIE = 'GA1.1.1234567890.1764979200'
const TTP = '2Nn1qW9HkJ3o-xYz_4.tt.1'

interface TagState {
  visitor: string
  result: {
    status: string
    event_id: string
    visitor_id: string
    number: string | null
    pooled: boolean
    held_until?: string
  } | null
}
interface PhoneLink {
  text: string
  href: string | null
  swapped: string | null
}
interface Trace {
  signals: Array<{
    id: string
    name: string
    event: { ext?: { click_ids?: Record<string, unknown> }; user_data?: Record<string, unknown> }
    attrs?: Record<string, unknown>
  }>
  deliveries: Array<{ destination: string; status: string; lastError?: string }>
}
interface MetaEvent {
  event_name: string
  action_source: string
  event_source_url?: string
  user_data: {
    fbc?: string
    fbp?: string
    client_user_agent?: string
    client_ip_address?: string
    ph?: string[]
  }
}
interface GoogleEvent {
  eventSource: string
  adIdentifiers?: { gclid?: string; landingPageDeviceInfo?: { userAgent?: string; ipAddress?: string } }
}

const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000')
/** "(800) 555-0111", as the tag writes a NANP number. */
const shown = (e164: string) => `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`

const landingHtml = (appUrl: string, campaign: string, slow: boolean) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Mortgage</title>
<script src="${appUrl}/t.js?key=${SITE_KEY}&campaign=${campaign}" async></script>
<style>body{font:18px system-ui,sans-serif;margin:40px}a{font-size:32px;font-weight:bold}</style></head>
<body><h1>Acme Mortgage — ${campaign === CAMPAIGN ? 'New York' : 'New Jersey'}</h1>
<p>Rates updated daily.</p>${slow ? '<!--flush-->' : ''}
<p>Talk to a loan officer now:</p>
<p><a id="phone" href="tel:${PAGE_NUMBER}" data-closeloop-phone>(800) 555-0100</a></p></body></html>`

let seq = 0

describe('attribution in a real browser (Debian chromium, /t.js, DNI, Twilio)', {
  skip: browserUnavailable(),
}, () => {
  let ads: Awaited<ReturnType<typeof startAdPlatforms>>
  let landing: LandingPage
  let app: TestApp
  let browser: Browser
  const contexts: BrowserContext[] = []
  /** The number the first visitor holds (for the hold_minutes): the tests run in order and share the pool. */
  let firstNumber: string | undefined

  before(async () => {
    ads = await startAdPlatforms()
    // the page names the closeloop server, which starts after it: the page's origin is what the site key binds
    landing = await startLandingPage((path) =>
      landingHtml(app.url, path === '/slow' ? SLOW_CAMPAIGN : CAMPAIGN, path === '/slow'),
    )
    app = await startApp(`
delivery: { sweep_interval_ms: 50, retry_schedule_s: [0.1], jitter: 0 }
attribution:
  data_set_id: acme
  site_keys: [{ name: acme-site, key: ${SITE_KEY}, origins: ["${landing.origin}"] }]
  dni:
    pools:
      ${CAMPAIGN}: { numbers: ${JSON.stringify(POOL)}, hold_minutes: 30, default_number: "${PAGE_NUMBER}" }
      ${SLOW_CAMPAIGN}: { numbers: ${JSON.stringify(SLOW_POOL)}, hold_minutes: 30, default_number: "${PAGE_NUMBER}" }
sources:
  tw: { type: twilio, auth_token: ${TWILIO_TOKEN}, data_set_id: acme, campaign: ${CAMPAIGN} }
campaigns:
  default: { qualified_after_s: 120 }
destinations:
${ads.destinations}
routes:
  - { signals: [call_connected], to: [meta, google] }
`)
    browser = await launchChromium()
  })
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined)
    await browser?.close()
    await app?.close()
    await landing?.close()
    await ads?.close()
  })

  const tagState = (page: Page) =>
    page.evaluate(() => (window as { closeloop?: unknown }).closeloop) as Promise<TagState>

  /** A new visitor (fresh cookies and storage) opens the landing page and waits for the tag’s answer; `null` for chromium’s own (headless) user agent. */
  async function visit(
    pathAndQuery: string,
    userAgent: string | null = DESKTOP_CHROME_UA,
    cookies: Record<string, string> = {},
  ): Promise<{ page: Page; tag: TagState; phone: PhoneLink }> {
    const context = await browser.newContext({
      ...(userAgent ? { userAgent } : {}),
      viewport: { width: 900, height: 420 },
    })
    contexts.push(context)
    // cookies the platforms' own tags would have set on the landing site
    await context.addCookies(
      Object.entries(cookies).map(([name, value]) => ({ name, value, url: landing.origin })),
    )
    const page = await context.newPage()
    await page.goto(`${landing.origin}${pathAndQuery}`)
    await page.waitForFunction(() => (window as { closeloop?: unknown }).closeloop !== undefined, undefined, {
      timeout: 10_000,
    })
    const phone = await page.$eval('#phone', (el) => ({
      text: el.textContent ?? '',
      href: el.getAttribute('href'),
      swapped: el.getAttribute('data-closeloop-swapped'),
    }))
    return { page, tag: await tagState(page), phone }
  }

  /** Twilio's `in-progress` status callback for an inbound call to `to`, signed as Twilio signs it. */
  async function callAnswered(to: string, caller: string) {
    const params = {
      AccountSid: 'AC0123456789abcdef0123456789abcdef',
      CallSid: `CAbrowser${process.pid}${++seq}${Math.random().toString(36).slice(2, 8)}`,
      CallStatus: 'in-progress',
      From: caller,
      To: to,
      Direction: 'inbound',
      Timestamp: rfc2822(Date.now()),
    }
    const url = `${app.url}/v1/sources/tw/twilio`
    const res = await app.request('POST', '/v1/sources/tw/twilio', new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilio.getExpectedTwilioSignature(TWILIO_TOKEN, url, params),
      authorization: '',
    })
    assert.equal(res.status, 200, res.text)
    const [result] = (res.body as { results: Array<{ event_id: string; signals: string[] }> }).results
    assert.deepEqual(result.signals, ['call_connected'])
    // the trace once both platforms accepted call_connected, and what each of them received
    const trace = await eventually(
      async () => {
        const t = (await app.get(`/v1/events/${result.event_id}`)).body as Trace
        const done = t.deliveries?.length === 2 && t.deliveries.every((d) => d.status === 'delivered')
        return done ? t : undefined
      },
      10_000,
      `call_connected for ${to} delivered to meta and google`,
    )
    const signal = trace.signals.find((s) => s.name === 'call_connected')
    assert.ok(signal, 'the trace holds the call_connected signal')
    const meta = ads.graph.accepted.find((a) => a.event.event_id === signal.id)?.event as
      | MetaEvent
      | undefined
    const dm = ads.google.events.get(`111/${signal.id}`)?.event as GoogleEvent | undefined
    assert.ok(meta, 'Meta received the signal (event_id = signal id)')
    assert.ok(dm, 'Google received the signal (transactionId = signal id)')
    return { signal, meta, google: dm }
  }

  test('an ad click in chromium swaps the number; a call to it reaches Meta and Google with the click ids', async () => {
    const clickedFrom = Date.now()
    const first = await visit(
      `/?gclid=${GCLID}&fbclid=${FBCLID}&utm_source=google&utm_medium=cpc`,
      undefined,
      {
        _fbp: FBP,
        _ga: GA_COOKIE,
        _ttp: TTP,
      },
    )
    const clickedTo = Date.now()

    // the tag's answer: a pool number, shown and dialable in place of the printed one
    const result = first.tag.result
    assert.ok(result, 'the click was accepted')
    assert.equal(result.status, 'accepted')
    assert.equal(result.pooled, true)
    const number = result.number
    assert.ok(number && POOL.includes(number), `a pool number, got ${number}`)
    firstNumber = number
    assert.deepEqual(first.phone, { text: shown(number), href: `tel:${number}`, swapped: number })
    assert.equal(await first.page.getByText(shown(number)).isVisible(), true)
    assert.equal(await first.page.getByText('(800) 555-0100').count(), 0, 'the printed number is gone')

    // the visitor id: a first-party cookie and localStorage on the landing origin, the one the server saw
    const visitor = first.tag.visitor
    assert.match(visitor, /^v_[0-9a-f]{32}$/)
    assert.equal(result.visitor_id, visitor)
    const cookies = await first.page.context().cookies(landing.origin)
    assert.equal(cookies.find((c) => c.name === '_clvid')?.value, visitor)
    assert.equal(await first.page.evaluate(() => localStorage.getItem('_clvid')), visitor)

    mkdirSync('.tmp', { recursive: true })
    await first.page.screenshot({ path: '.tmp/browser-landing.png' })

    // a reload is the same visitor holding the same number (and the same page load within a minute, one click)
    await first.page.reload()
    await first.page.waitForFunction(() => (window as { closeloop?: unknown }).closeloop !== undefined)
    const again = await tagState(first.page)
    assert.equal(again.visitor, visitor)
    assert.equal(again.result?.number, number)

    // the visitor calls the number they were shown
    const call = await callAnswered(number, '+12125550142')
    const clicks = call.signal.event.ext?.click_ids
    assert.equal(clicks?.attribution, 'dni', 'the trace shows the call joined by its DNI number')
    assert.equal(call.signal.attrs?.attribution, 'dni')
    assert.equal(clicks?.gclid, GCLID)
    assert.equal(clicks?.fbclid, FBCLID)
    // the platforms' own browser ids went with the visit to the call: GA4's client id, TikTok's ttp, Meta's fbp
    const browserIds = clicks as Record<string, unknown> | undefined
    assert.deepEqual([browserIds?.ga_client_id, browserIds?.ttp, browserIds?.fbp], [GA_COOKIE, TTP, FBP])
    assert.equal(call.meta.user_data.fbp, FBP)

    // Meta: fbc built from the fbclid at the time of the click (ms), not of the call
    const fbc = /^fb\.1\.(\d{13})\.(.+)$/.exec(call.meta.user_data.fbc ?? '')
    assert.ok(fbc, `fbc = fb.1.<ms>.<fbclid>, got ${call.meta.user_data.fbc}`)
    assert.equal(fbc[2], FBCLID)
    const fbcMs = Number(fbc[1])
    assert.ok(fbcMs >= clickedFrom && fbcMs <= clickedTo, `fbc time ${fbcMs} is the click's`)
    assert.equal(call.meta.event_name, 'Contact')
    assert.equal(call.meta.action_source, 'phone_call')
    // Meta's client_user_agent / client_ip_address describe the device of the event itself; a phone call has
    // none, so the landing page's browser goes to Google only (landingPageDeviceInfo), never to Meta as the call's
    assert.equal(call.meta.user_data.client_user_agent, undefined)
    assert.equal(call.meta.user_data.client_ip_address, undefined)
    assert.equal(call.meta.event_source_url, undefined)

    // Google: the gclid, and the landing page's device (the browser's UA and address as the server saw them)
    assert.equal(call.google.eventSource, 'PHONE')
    assert.equal(call.google.adIdentifiers?.gclid, GCLID)
    assert.deepEqual(call.google.adIdentifiers?.landingPageDeviceInfo, {
      userAgent: DESKTOP_CHROME_UA,
      ipAddress: '127.0.0.1',
    })
  })

  test('a headless bot holds no number; a second visitor gets the other number, a third the default (not attributed)', async () => {
    // Chromium's own headless user agent says HeadlessChrome: refused as bot traffic, the printed number stays
    const bot = await visit(`/?gclid=${GCLID_2}`, null)
    assert.match(await bot.page.evaluate(() => navigator.userAgent), /HeadlessChrome/)
    assert.equal(bot.tag.result, null, 'the click was refused')
    assert.deepEqual(bot.phone, { text: '(800) 555-0100', href: `tel:${PAGE_NUMBER}`, swapped: null })

    const second = await visit(`/?gclid=${GCLID_2}&utm_source=google`)
    const number = second.tag.result?.number
    assert.equal(second.tag.result?.pooled, true, 'the bot did not take a pool number')
    assert.ok(number && POOL.includes(number))
    assert.notEqual(number, firstNumber, 'the first visitor still holds their number')
    assert.deepEqual(second.phone, { text: shown(number), href: `tel:${number}`, swapped: number })

    const call = await callAnswered(number, '+12125550143')
    assert.equal(call.signal.event.ext?.click_ids?.attribution, 'dni')
    assert.equal(call.google.adIdentifiers?.gclid, GCLID_2, "the second visitor's own click")
    assert.equal(call.meta.user_data.fbc, undefined, 'this click had no fbclid')

    // every pool number is held: the third visitor is given the default number, and keeps seeing it
    const third = await visit(`/?gclid=${GCLID}&fbclid=${FBCLID}`)
    assert.equal(third.tag.result?.pooled, false)
    assert.equal(third.tag.result?.number, PAGE_NUMBER)
    assert.deepEqual(third.phone, {
      text: '(800) 555-0100',
      href: `tel:${PAGE_NUMBER}`,
      swapped: PAGE_NUMBER,
    })

    const unattributed = await callAnswered(PAGE_NUMBER, '+12125550144')
    const clicks = unattributed.signal.event.ext?.click_ids
    assert.equal(clicks?.attribution, 'none', 'a call to the default number joins no click')
    assert.equal(clicks?.gclid, undefined)
    assert.equal(unattributed.meta.user_data.fbc, undefined)
    assert.equal(unattributed.google.adIdentifiers, undefined)
  })

  test('a slow page whose number arrives after the tag answered still shows the pool number', async () => {
    const slow = await visit(`/slow?gclid=${GCLID}&utm_source=google`)
    assert.equal(slow.tag.result?.number, SLOW_POOL[0])
    assert.deepEqual(slow.phone, {
      text: shown(SLOW_POOL[0]),
      href: `tel:${SLOW_POOL[0]}`,
      swapped: SLOW_POOL[0],
    })
  })
})
