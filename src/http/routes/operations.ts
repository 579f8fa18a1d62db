/**
 * Operations: dead letters and replay, destination resume, health, readiness and Prometheus metrics.
 */
import { Type as T } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { appError } from '../../model/errors.ts'
import type { DeliveryStatus } from '../../model/signal.ts'
import { validator } from '../../model/validate.ts'
import { DASHBOARD_HTML } from '../../ui/dashboard.ts'
import { requireApiKey } from '../auth.ts'
import type { HttpDeps } from '../deps.ts'
import { openApiDocument } from '../openapi.ts'
import { readQuery } from '../query.ts'

const DeliveryQuery = T.Object(
  {
    status: T.Optional(
      T.Union(['pending', 'in_flight', 'delivered', 'dead', 'skipped'].map((s) => T.Literal(s))),
    ),
    destination: T.Optional(T.String({ maxLength: 255 })),
    limit: T.Optional(T.String({ pattern: '^[1-9][0-9]{0,3}$' })),
    after: T.Optional(T.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
)
const checkQuery = validator(DeliveryQuery)

export function registerOperationRoutes(app: FastifyInstance, deps: HttpDeps) {
  app.get('/v1/deliveries', async function listDeliveries(req) {
    requireApiKey(req, deps.apiKeys)
    const q = readQuery(req, checkQuery)
    const limit = Math.min(Number(q.limit ?? 100), 1000)
    const items = await deps.store.listDeliveries({
      status: q.status as DeliveryStatus | undefined,
      destination: q.destination,
      after: q.after,
      limit,
    })
    return { deliveries: items, next: items.length === limit ? items[items.length - 1].id : null }
  })

  app.post<{ Params: { id: string } }>('/v1/deliveries/:id/replay', async function replayDelivery(req) {
    requireApiKey(req, deps.apiKeys)
    const d = await deps.store.replay(req.params.id, Date.now())
    if (!d) throw appError('E_NOT_FOUND', `no delivery ${req.params.id}`)
    deps.engine.wake([d.destination])
    return { delivery: d }
  })

  app.post<{ Params: { name: string } }>(
    '/v1/destinations/:name/resume',
    async function resumeDestination(req) {
      requireApiKey(req, deps.apiKeys)
      if (!(await deps.engine.resume(req.params.name)))
        throw appError('E_NOT_FOUND', `no destination ${req.params.name}`)
      return { destination: req.params.name, health: deps.engine.health(req.params.name) }
    },
  )

  app.get('/v1/destinations', async function listDestinations(req) {
    requireApiKey(req, deps.apiKeys)
    const lanes = new Map(deps.engine.lanes().map((l) => [l.name, l]))
    return {
      destinations: Object.values(deps.config.destinations).map((d) => ({
        name: d.name,
        type: d.type,
        enabled: d.enabled,
        disabled_reason: d.disabledReason,
        ...(lanes.get(d.name) ?? {}),
      })),
    }
  })

  // the API description is public, like any published API reference; it holds no data
  const doc = openApiDocument()
  app.get('/docs', async () => doc)

  app.get('/', async (_req, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header(
        'content-security-policy',
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
      )
      .send(DASHBOARD_HTML),
  )

  app.get('/v1/stats', async function stats(req) {
    requireApiKey(req, deps.apiKeys)
    return deps.store.counts()
  })

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async function readiness(_req, reply) {
    try {
      await deps.store.ping()
      if (!deps.ready()) throw new Error('store unavailable')
      return { status: 'ready', store: deps.store.kind }
    } catch {
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ status: 'unavailable', store: deps.store.kind })
    }
  })

  app.get('/metrics', async function metrics(req, reply) {
    requireApiKey(req, deps.apiKeys)
    reply.header('content-type', deps.metrics.registry.contentType)
    return deps.metrics.registry.metrics()
  })
}
