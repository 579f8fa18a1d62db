/**
 * `POST /v1/events` (ECAPI ingest, single or batch) and `GET /v1/events/:id` (the trace).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { EcapiEvent } from '../../model/ecapi.ts'
import { appError, type ErrorDetail, isAppError } from '../../model/errors.ts'
import { callItem, isCrmOutcome } from '../../pipeline/calls/index.ts'
import { ecapiItem } from '../../pipeline/ecapi.ts'
import { readEcapiBody } from '../../sources/ecapi/index.ts'
import { newId } from '../../store/ids.ts'
import type { ItemOutcome, RawInput } from '../../store/types.ts'
import { requireApiKey, storableForm, storableHeaders, storableJson } from '../auth.ts'
import type { HttpDeps } from '../deps.ts'
import { errorBody } from '../errors.ts'

type EventReport =
  | {
      index: number
      status: 'accepted' | 'duplicate'
      event_id: string
      duplicate_of?: string
      signals: string[]
    }
  | { index: number; status: 'rejected'; error: { code: 'E_EVENT_INVALID'; details: ErrorDetail[] } }

/** The body as stored: a GET's request URL; a token given as a query or form parameter, or in JSON, redacted. */
function storableBody(req: FastifyRequest): string {
  if (req.rawBody === undefined) return req.method === 'GET' ? storableForm(req.url) : ''
  return String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')
    ? storableForm(req.rawBody)
    : storableJson(req.rawBody)
}

export function rawFrom(req: FastifyRequest, source: string, kind: string): RawInput {
  return {
    id: newId('raw'),
    source,
    kind,
    receivedAt: Date.now(),
    contentType: req.headers['content-type'],
    headers: storableHeaders(req.headers),
    body: storableBody(req),
  }
}

export function registerEventRoutes(app: FastifyInstance, deps: HttpDeps) {
  app.post('/v1/events', async function ingestEvents(req, reply) {
    const raw = rawFrom(req, 'ecapi', 'events')
    let verdicts: ReturnType<typeof readEcapiBody>
    try {
      requireApiKey(req, deps.apiKeys)
      if (req.body === undefined)
        throw appError('E_BODY_INVALID', 'empty body', [{ path: '/', message: 'required' }])
      verdicts = readEcapiBody(req.body, deps.config.server.max_batch_events)
    } catch (err) {
      if (isAppError(err) && err.status < 500) await refuse(raw, req.ip, err.status, errorBody(err))
      throw err
    }
    if (!deps.ready()) throw appError('E_UNAVAILABLE', undefined, [], { 'retry-after': '5' })

    const reports: EventReport[] = []
    const valid: Array<{ index: number; item: ReturnType<typeof ecapiItem> }> = []
    for (const v of verdicts.verdicts) {
      if ('errors' in v)
        reports[v.index] = {
          index: v.index,
          status: 'rejected',
          error: { code: 'E_EVENT_INVALID', details: v.errors },
        }
      else valid.push({ index: v.index, item: itemFor(v.event) })
    }
    const toReport = (outcomes: ItemOutcome[]) => {
      outcomes.forEach((o, i) => {
        const index = valid[i].index
        reports[index] = {
          index,
          status: o.status,
          event_id: o.eventId,
          ...(o.duplicateOf ? { duplicate_of: o.duplicateOf } : {}),
          signals: o.signals.map((s) => s.id),
        }
      })
      return summarize(reports)
    }
    const allRejected = valid.length === 0
    raw.status = allRejected ? 400 : 200
    const result = await deps.ingest(
      raw,
      valid.map((v) => v.item),
      toReport,
    )
    if (valid.length) toReport(result.outcomes)
    for (const r of reports) deps.metrics.ingested.inc({ source: 'ecapi', result: r.status })

    if (!verdicts.batch) {
      const r = reports[0]
      if (r.status === 'rejected')
        return reply
          .code(400)
          .send({ error: { code: 'E_EVENT_INVALID', message: 'event is invalid', details: r.error.details } })
      return reply.code(200).send(r)
    }
    return reply.code(allRejected ? 400 : 200).send(summarize(reports))
  })

  /**
   * Events about a call (`ext.call`) and phone-call CRM outcomes (`close_convert_lead`, `purchase`… with
   * `source: phone_call`) join their call's journey and follow the call rules; any other ECAPI event yields one
   * signal named after its event_type.
   */
  function itemFor(event: EcapiEvent) {
    const aboutCall =
      event.ext?.call !== undefined || (event.source === 'phone_call' && isCrmOutcome(event, deps.callRules))
    return aboutCall ? callItem(event, deps.callRules, deps.pipeline) : ecapiItem(event, deps.pipeline)
  }

  app.get<{ Params: { id: string } }>('/v1/events/:id', async function eventTrace(req) {
    requireApiKey(req, deps.apiKeys)
    const trace = await deps.store.trace(req.params.id)
    if (!trace) throw appError('E_NOT_FOUND', `no event ${req.params.id}`)
    return trace
  })

  async function refuse(raw: RawInput, from: string, status: number, result: unknown) {
    raw.status = status
    raw.result = result
    await deps
      .recordRefusal(raw, from)
      .catch((err) => deps.log.warn({ err: String(err) }, 'could not record refused input'))
  }
}

function summarize(reports: EventReport[]) {
  const count = (s: EventReport['status']) => reports.filter((r) => r.status === s).length
  return {
    accepted: count('accepted'),
    duplicate: count('duplicate'),
    rejected: count('rejected'),
    results: reports,
  }
}
