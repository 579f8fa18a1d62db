/**
 * Attribution endpoints: `POST /v1/clicks` (first-touch click capture), `GET /v1/dni` (a pool number for a
 * visitor) and `GET /t.js` (the browser tag). Servers authenticate with an API key; browsers with a publishable
 * site key bound to page origins (checked against `Origin`), answered with CORS headers for that origin only.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { appError } from '../../model/errors.ts'
import { clickItem, dniUpdate, requesterKey } from '../../pipeline/attribution/index.ts'
import { isBot, readClick } from '../../sources/clicks/index.ts'
import { TAG_JS } from '../../ui/tag.ts'
import { addressBudget, addressKey } from '../address-budget.ts'
import { matchesAny, requireApiKey, safeEqual } from '../auth.ts'
import type { HttpDeps } from '../deps.ts'
import { errorBody } from '../errors.ts'
import { rawFrom } from './events.ts'

/** Who asked for a number: a bot gets no hold; `address` is counted against `max_holds_per_address`. */
interface Requester {
  bot: boolean
  address?: string
}

export function registerClickRoutes(app: FastifyInstance, deps: HttpDeps) {
  const attribution = deps.config.attribution
  const siteKeys = attribution.site_keys
  const limit = attribution.browser_rate_limit
  const browsers = limit.per_s > 0 ? addressBudget({ burst: limit.burst, perSecond: limit.per_s }) : undefined

  /** A site key is public: each sender address gets a budget of requests with one (`browser_rate_limit`). */
  function withinBudget(req: FastifyRequest) {
    const now = Date.now()
    if (!browsers || browsers.take(req.ip, now)) return
    deps.metrics.browserRateLimited.inc()
    const wait = Math.max(1, Math.ceil(browsers.waitMs(req.ip, now) / 1000))
    throw appError('E_RATE_LIMITED', 'too many requests from this address', [], {
      'retry-after': String(wait),
    })
  }

  /**
   * API key (a server), or a site key whose origins include the request's Origin (a browser: answered with
   * CORS headers for that origin, and within its address's budget).
   */
  function authenticate(req: FastifyRequest, reply: FastifyReply, bodyKey?: unknown): 'browser' | 'server' {
    const origin = req.headers.origin
    const presented =
      (typeof bodyKey === 'string' && bodyKey) ||
      (req.query as Record<string, string | undefined>).key ||
      (req.headers['x-closeloop-site-key'] as string | undefined)
    if (presented && siteKeys.length) {
      let site: (typeof siteKeys)[number] | undefined
      for (const s of siteKeys) if (safeEqual(presented, s.key)) site = s
      if (site) {
        if (!origin || !site.origins.includes(origin))
          throw appError('E_AUTH_INVALID', `origin ${origin ?? '(none)'} is not allowed for this site key`)
        reply.header('access-control-allow-origin', origin).header('vary', 'Origin')
        withinBudget(req)
        return 'browser'
      }
      if (!matchesAny(presented, deps.apiKeys)) throw appError('E_AUTH_INVALID', 'invalid site key')
      return 'server'
    }
    requireApiKey(req, deps.apiKeys)
    return 'server'
  }

  /**
   * Who asks for a number: a browser, by its address and user agent; a server, for the visitor whose address
   * it names (`ip` of a click), else for nobody the pool can count.
   */
  function requester(req: FastifyRequest, by: 'browser' | 'server', visitorIp?: unknown): Requester {
    if (by === 'browser') return { bot: isBot(req.headers['user-agent']), address: req.ip }
    return { bot: false, address: typeof visitorIp === 'string' && visitorIp ? visitorIp : undefined }
  }

  app.post('/v1/clicks', async function captureClick(req, reply) {
    const raw = rawFrom(req, 'clicks', 'click')
    let read: ReturnType<typeof readClick>
    let by: Requester
    try {
      const body = (req.body ?? {}) as Record<string, unknown>
      by = requester(req, authenticate(req, reply, body.key), body.ip)
      const { key: _key, ...input } = body
      read = readClick(input, {
        ip: req.ip,
        userAgent: req.headers['user-agent'],
        now: raw.receivedAt,
        dataSetId: attribution.data_set_id,
      })
    } catch (err) {
      const e = err as { status?: number }
      if (e.status && e.status < 500) {
        raw.status = e.status
        raw.result = errorBody(err as never)
        deps.metrics.clicks.inc({ result: 'rejected' })
        await deps.recordRefusal(raw, req.ip).catch(() => undefined)
      }
      throw err
    }
    if (!deps.ready()) throw appError('E_UNAVAILABLE', undefined, [], { 'retry-after': '5' })
    raw.status = 200
    const res = await deps.ingest(raw, [clickItem(read.event, attribution.click_ttl_days, read.dedupKey)])
    const outcome = res.outcomes[0]
    deps.metrics.clicks.inc({ result: outcome.status })
    const visitor = (read.event.ext as { visitor_id: string }).visitor_id
    const number = read.campaign ? await assign(read.campaign, visitor, by) : undefined
    return { status: outcome.status, event_id: outcome.eventId, visitor_id: visitor, ...(number ?? {}) }
  })

  app.get('/v1/dni', async function dynamicNumber(req, reply) {
    const by = requester(req, authenticate(req, reply))
    const q = req.query as Record<string, string | undefined>
    const details = [
      ...(q.campaign ? [] : [{ path: '/query/campaign', message: 'required' }]),
      ...(q.visitor && /^[A-Za-z0-9_.-]{8,128}$/.test(q.visitor)
        ? []
        : [{ path: '/query/visitor', message: 'required: 8–128 of [A-Za-z0-9_.-]' }]),
    ]
    if (details.length) throw appError('E_INPUT_INVALID', 'invalid query', details)
    const assigned = await assign(q.campaign!, q.visitor!, by)
    if (!assigned) throw appError('E_NOT_FOUND', `no number pool for campaign ${q.campaign}`)
    return assigned
  })

  async function assign(campaign: string, visitor: string, by: Requester) {
    const pool = Object.hasOwn(attribution.dni.pools, campaign) ? attribution.dni.pools[campaign] : undefined
    if (!pool) return undefined
    // a crawler rendering the page (search engines run the tag) would hold a number no person calls
    if (by.bot) {
      deps.metrics.dni.inc({ campaign, result: 'bot' })
      return { number: pool.default_number ?? null, pooled: false }
    }
    const now = Date.now()
    const from = by.address === undefined ? undefined : requesterKey(addressKey(by.address))
    const u = dniUpdate(campaign, pool, attribution.data_set_id, visitor, now, from)
    const a = await deps.store.updateFacts(u.keys, u.update, now)
    deps.metrics.dni.inc({ campaign, result: a.pooled ? 'pooled' : a.limited ? 'limited' : 'exhausted' })
    return {
      number: a.number ?? null,
      pooled: a.pooled,
      ...(a.heldUntil ? { held_until: new Date(a.heldUntil).toISOString() } : {}),
    }
  }

  // the tag itself is public, like any script a page includes; it holds no data
  app.get('/t.js', async (_req, reply) =>
    reply
      .header('content-type', 'application/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=300')
      .send(TAG_JS),
  )
}
