/**
 * Click capture input: what `/t.js` (or a server) posts to `POST /v1/clicks` — a visitor id, the landing URL
 * (click ids and UTM parameters are read from it), the referrer — becomes an ECAPI `page_view` event with the
 * click ids under `ext.click_ids` and the landing IP and user agent (ECAPI `landing_ip_address` /
 * `landing_user_agent`). Bots and malformed click ids are refused with a reason and the field path.
 *
 * @example
 *   readClick({ visitor_id: 'v_123456789', url: 'https://acme.example/?gclid=Cj0KCQ…' }, { ip, userAgent, now, dataSetId: 'acme' })
 */
import { hash } from 'node:crypto'
import { isIP } from 'node:net'
import { Type as T } from '@sinclair/typebox'
import type { EcapiEvent } from '../../model/ecapi.ts'
import { appError, type ErrorDetail } from '../../model/errors.ts'
import { type ClickIdentity, EPOCH_MS_MAX } from '../../model/identity.ts'
import { validator } from '../../model/validate.ts'
import { base32Digits } from '../../store/ids.ts'

const Id = T.String({ minLength: 1, maxLength: 512 })

export const ClickInput = T.Object(
  {
    visitor_id: T.String({ pattern: '^[A-Za-z0-9_.-]{8,128}$' }),
    url: T.Optional(T.String({ pattern: '^https?://', maxLength: 4096 })),
    referrer: T.Optional(T.String({ maxLength: 4096 })),
    campaign: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
    data_set_id: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
    gclid: T.Optional(Id),
    gbraid: T.Optional(Id),
    wbraid: T.Optional(Id),
    fbclid: T.Optional(Id),
    fbp: T.Optional(Id),
    ttclid: T.Optional(Id),
    msclkid: T.Optional(Id),
    /** Browser ids the platforms' own tags set: GA's `_ga` cookie (or its client id) and TikTok's `_ttp`. */
    ga_client_id: T.Optional(Id),
    ttp: T.Optional(Id),
    /** Server-to-server callers pass what the browser sent them; the tag's own request supplies these itself. */
    ip: T.Optional(T.String({ format: 'ip' })),
    user_agent: T.Optional(T.String({ maxLength: 2048 })),
    clicked_at: T.Optional(T.Integer({ minimum: 0, maximum: EPOCH_MS_MAX })),
  },
  { additionalProperties: true },
)
const check = validator(ClickInput)

/**
 * What real click ids look like. Google's gclid/gbraid/wbraid and Meta's fbclid are URL-safe base64-ish tokens;
 * msclkid is 32 hex digits; ttclid is URL-safe with dots. Anything else is a typo, a test value or an injection.
 */
const CLICK_ID_SHAPES: Record<string, RegExp> = {
  gclid: /^[A-Za-z0-9_-]{10,512}$/,
  gbraid: /^[A-Za-z0-9_-]{10,512}$/,
  wbraid: /^[A-Za-z0-9_-]{10,512}$/,
  fbclid: /^[A-Za-z0-9_-]{10,512}$/,
  ttclid: /^[A-Za-z0-9_.-]{10,512}$/,
  msclkid: /^[0-9a-f]{32}$/i,
}
const CLICK_KEYS = ['gclid', 'gbraid', 'wbraid', 'fbclid', 'ttclid', 'msclkid'] as const
/**
 * Browser ids the tag reads from the platforms' own first-party cookies, carried to the call so GA4 credits
 * the visit's `client_id` and TikTok gets `ttp` (the destinations read them from `ext.click_ids`; nothing
 * captured them, so a joined call always went to GA4 under a made-up client id).
 */
const BROWSER_ID_SHAPES: Record<string, RegExp> = {
  // Meta's `_fbp` cookie
  fbp: /^fb\.[0-9]\.[0-9]{10,13}\.[0-9]{1,20}$/,
  // the `_ga` cookie (`GA1.1.<random>.<seconds>`) or the client id alone
  ga_client_id: /^(GA\d\.\d+\.)?\d{1,20}\.\d{1,20}$/,
  ttp: /^[A-Za-z0-9_.+/=-]{8,256}$/,
}
const UTM_KEYS = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'] as const

/** Crawlers, link previews, headless automation and HTTP libraries: their "clicks" are not people. */
const BOT_UA =
  /bot|crawl|spider|slurp|facebookexternalhit|embedly|preview|headlesschrome|phantomjs|lighthouse|python-requests|curl\/|wget|go-http-client|java\/|okhttp|axios\//i

/** Whether a user agent is a crawler, preview or automation (or missing): not a person who could call. */
export const isBot = (userAgent: string | undefined) => !userAgent || BOT_UA.test(userAgent)

export interface ClickContext {
  /** Address the request came from (the browser's, for the tag). */
  ip: string
  userAgent?: string
  now: number
  /** `attribution.data_set_id`: the one data set of clicks and visitors; a body's own must equal it. */
  dataSetId: string
}

export interface ReadClick {
  event: EcapiEvent
  campaign?: string
  dedupKey: string
}

export function readClick(body: unknown, ctx: ClickContext): ReadClick {
  const problems = check(body)
  if (problems.length) throw appError('E_INPUT_INVALID', 'click is invalid', problems)
  const input = body as Record<string, unknown> & { visitor_id: string; url?: string }
  const fromUrl = input.url ? new URL(input.url).searchParams : new URLSearchParams()
  const details: ErrorDetail[] = []
  const clickIds: ClickIdentity = {}
  for (const k of CLICK_KEYS) {
    const v = (input[k] as string | undefined) ?? fromUrl.get(k) ?? undefined
    if (v === undefined || v === '') continue
    if (!CLICK_ID_SHAPES[k].test(v))
      details.push({ path: input[k] ? `/${k}` : `/url`, message: `malformed ${k}` })
    else clickIds[k] = v
  }
  const userAgent = (input.user_agent as string | undefined) ?? ctx.userAgent
  // the data set of clicks and visitors is the server's (`attribution.data_set_id`): a visitor stored under
  // another one would never be found by the DNI and phone joins, which look only there
  if (input.data_set_id !== undefined && input.data_set_id !== ctx.dataSetId)
    details.push({ path: '/data_set_id', message: 'must be attribution.data_set_id or left out' })
  if (!userAgent) details.push({ path: '/user_agent', message: 'required (no User-Agent header either)' })
  else if (BOT_UA.test(userAgent))
    details.push({ path: '/user_agent', message: 'bot traffic is not a click' })
  if (details.length) throw appError('E_INPUT_INVALID', 'click refused', details)

  const clickedAt = (input.clicked_at as number | undefined) ?? ctx.now
  clickIds.clicked_at = clickedAt
  if (clickIds.fbclid) clickIds.fbc = `fb.1.${clickedAt}.${clickIds.fbclid}`
  // a browser id of an odd shape is left out, never a refused click: it only helps a platform join the visit
  for (const [k, shape] of Object.entries(BROWSER_ID_SHAPES)) {
    const v = input[k]
    if (typeof v === 'string' && shape.test(v)) (clickIds as Record<string, unknown>)[k] = v
  }
  const utm: Record<string, string> = {}
  for (const k of UTM_KEYS) {
    const v = (input[k] as string | undefined) ?? fromUrl.get(k)
    if (v) utm[k.slice(4)] = v.slice(0, 255)
  }
  const ip = (input.ip as string | undefined) ?? ctx.ip
  const dataSetId = ctx.dataSetId
  const landing = input.url ? stripFragment(input.url) : undefined
  const event: EcapiEvent = {
    data_set_id: dataSetId,
    timestamp: Math.floor(clickedAt / 1000),
    event_type: 'page_view',
    source: 'website',
    user_data: {
      ...(isIP(ip) ? { landing_ip_address: ip } : {}),
      landing_user_agent: userAgent!.slice(0, 2048),
    },
    properties: {
      ...(landing ? { page_url: landing } : {}),
      ...(input.referrer ? { referrer: String(input.referrer) } : {}),
      ...(utm.source ? { ad_source: utm.source } : {}),
    },
    // visitor id and UTM ride in ext (ECAPI's extension point); the model's ext allows extra members
    ext: {
      click_ids: clickIds,
      visitor_id: input.visitor_id,
      ...(Object.keys(utm).length ? { utm } : {}),
    } as EcapiEvent['ext'],
  }
  // the same page load posted twice (a retry, a double-fired tag) within its minute is one click. The minute
  // also leads the key (it cannot be finer: a retry within the minute must find the same key), so a site's
  // new keys go to the last minute's part of the dedup index, not anywhere in it. At the benchmark's
  // 10,000 clicks/s a minute spans thousands of index pages and this changes little; at a site's rate it
  // keeps the pages that inserts touch few and cached instead of spread over a months-deep index
  const minute = Math.floor(clickedAt / 60_000)
  const fingerprint =
    base32Digits(minute, 6) +
    hash(
      'sha256',
      `${input.visitor_id}|${landing ?? ''}|${JSON.stringify(CLICK_KEYS.map((k) => clickIds[k] ?? ''))}|${minute}`,
      'hex',
    ).slice(0, 26)
  return {
    event,
    dedupKey: `click:${dataSetId}:${fingerprint}`,
    ...(input.campaign ? { campaign: String(input.campaign) } : {}),
  }
}

const stripFragment = (u: string) => u.split('#')[0].slice(0, 4096)
