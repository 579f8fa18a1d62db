/**
 * `/v1/sources/:source/twilio|webhook|postback`: inbound call platforms, call centers and CRMs. The raw input is
 * stored whatever happens (accepted, duplicate, refused); the source adapter authenticates and maps it; every
 * event then goes through the call rules.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { appError, isAppError } from '../../model/errors.ts'
import { callItem } from '../../pipeline/calls/index.ts'
import type { SourceRequest, SourceRoute } from '../../sources/contract.ts'
import { SOURCES } from '../../sources/registry.ts'
import type { ItemOutcome } from '../../store/types.ts'
import type { HttpDeps } from '../deps.ts'
import { errorBody } from '../errors.ts'
import { rawFrom } from './events.ts'

const ROUTES: SourceRoute[] = ['twilio', 'webhook', 'postback']

/**
 * The URL the sender signed. Behind a proxy the request URL is not it (a known Twilio failure), so it comes from
 * `server.public_url` when set, else from trusted `X-Forwarded-Proto`/`-Host` (fastify's `trust_proxy`).
 */
export function publicUrlOf(req: FastifyRequest, configured?: string): string {
  if (configured) return configured.replace(/\/$/, '') + req.url
  return `${req.protocol}://${req.host}${req.url}`
}

export function registerSourceRoutes(app: FastifyInstance, deps: HttpDeps) {
  for (const route of ROUTES) {
    const handler = async function sourceInput(req: FastifyRequest<{ Params: { source: string } }>) {
      const name = req.params.source
      const raw = rawFrom(req, name, route)
      const plugin = Object.hasOwn(deps.config.sources, name) ? deps.config.sources[name] : undefined
      // the metric's label is a configured source: a name from the URL grew one series per request
      const label = plugin ? name : 'unknown'
      // a source's own credential headers (`token_header`, `signature_header`, `hmac_header`) are redacted
      // like the standard ones: a stored signature is a replayable one
      for (const h of ownCredentialHeaders(plugin?.config))
        if (raw.headers[h] !== undefined) raw.headers[h] = '[redacted]'
      const refuse = async (err: unknown) => {
        if (isAppError(err) && err.status < 500) {
          raw.status = err.status
          raw.result = errorBody(err)
          deps.metrics.ingested.inc({ source: label, result: 'rejected' })
          await deps
            .recordRefusal(raw, req.ip)
            .catch((e) => deps.log.warn({ err: String(e) }, 'could not record refused input'))
        }
        return err
      }
      if (!plugin) throw await refuse(appError('E_SOURCE_UNKNOWN', `no source "${name}"`))
      if (!plugin.enabled)
        throw await refuse(
          appError('E_SOURCE_UNKNOWN', `source "${name}" is disabled (${plugin.disabledReason})`),
        )
      const def = SOURCES[plugin.type]
      if (def.route !== route)
        throw await refuse(
          appError(
            'E_SOURCE_TYPE',
            `source "${name}" is a ${plugin.type} source: use /v1/sources/${name}/${def.route}`,
          ),
        )
      const request: SourceRequest = {
        method: req.method === 'GET' ? 'GET' : 'POST',
        url: req.url,
        publicUrl: publicUrlOf(req, deps.config.server.public_url),
        query: flatStrings(req.query),
        headers: req.headers as Record<string, string | undefined>,
        rawBody: req.rawBody ?? '',
        body: req.body,
        remoteIp: req.ip,
        now: raw.receivedAt,
      }
      let events: ReturnType<typeof def.read>
      try {
        events = def.read(request, plugin.config as never, name)
      } catch (err) {
        // a bug in an adapter must not become a 500 for the sender's input: it is a 400 with the raw input kept
        throw await refuse(
          isAppError(err)
            ? err
            : appError('E_INPUT_INVALID', `unreadable input: ${String(err).slice(0, 200)}`),
        )
      }
      if (!deps.ready()) throw appError('E_UNAVAILABLE', undefined, [], { 'retry-after': '5' })
      const items = events.map((e) => callItem(e, deps.callRules, deps.pipeline))
      const report = (outcomes: ItemOutcome[]) => ({
        results: outcomes.map((o) => ({
          status: o.status,
          event_id: o.eventId,
          ...(o.duplicateOf ? { duplicate_of: o.duplicateOf } : {}),
          signals: o.signals.map((s) => s.name),
        })),
      })
      raw.status = 200
      const res = await deps.ingest(raw, items, report)
      for (const o of res.outcomes) deps.metrics.ingested.inc({ source: name, result: o.status })
      return report(res.outcomes)
    }
    // every route takes GET too: Twilio with `StatusCallbackMethod=GET`, Retreaver and Invoca pixels, postbacks
    app.post(`/v1/sources/:source/${route}`, handler)
    app.get(`/v1/sources/:source/${route}`, handler)
  }
}

/** The header names, lowercased, that a source's config says carry its credentials. */
function ownCredentialHeaders(config: unknown): string[] {
  const c = (config ?? {}) as Record<string, unknown>
  return ['token_header', 'signature_header', 'hmac_header']
    .map((k) => c[k])
    .filter((v): v is string => typeof v === 'string' && v !== '')
    .map((v) => v.toLowerCase())
}

function flatStrings(q: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (q && typeof q === 'object')
    for (const [k, v] of Object.entries(q)) out[k] = Array.isArray(v) ? String(v[0] ?? '') : String(v ?? '')
  return out
}
