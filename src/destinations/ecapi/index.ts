/**
 * `ecapi`: conversion signals as IAB Tech Lab ECAPI 1.0 events to any ECAPI partner endpoint.
 *
 * ECAPI fixes the event, its normalization and its status codes, and leaves the endpoint, auth and batch
 * envelope to each partner (ecapi.md §2), so those are configuration: one event per request (the default;
 * every partner accepts it) or `{ "events": [...] }`; a Standard Webhooks signature (`secret: whsec_…`;
 * `webhook-id` = the signal id, stable across retries) and/or `Authorization: Bearer`. Statuses are
 * classified per ecapi.md §4 (`errors.ts`); a 400 on a batch is split until each bad event is alone.
 *
 * @example
 *   destinations:
 *     partner:
 *       type: ecapi
 *       url: https://events.partner.example/v1/ecapi
 *       secret: ${PARTNER_WHSEC}
 *       data_set_id: acme-web
 *       click_id_from: ttclid
 */
import { createHash } from 'node:crypto'
import { type Static, Type as T } from '@sinclair/typebox'
import type { EcapiEvent } from '../../model/ecapi.ts'
import { EVENT_TYPES } from '../../model/ecapi.ts'
import type { Outcome } from '../../model/signal.ts'
import type {
  CommonDestinationConfig,
  Destination,
  DestinationContext,
  DestinationDefinition,
  DestinationJob,
} from '../contract.ts'
import { targetUrl } from '../http.ts'
import { sendIsolating } from '../isolate.ts'
import { signStandardWebhook, whsecProblems } from '../webhook/index.ts'
import { classifyEcapiResponse } from './errors.ts'
import { buildEcapiEvent, CLICK_ID_SOURCES, type Envelope, matchKeysOf, requestBody } from './payload.ts'

/** A mapping value: a standard ECAPI event type, `custom:<name>`, or `""` (never send). */
const EVENT_TYPE_VALUE = `^(|custom:.+|${EVENT_TYPES.filter((t) => t !== 'custom').join('|')})$`

// the key's strength is checked by whsecProblems (strict base64 of 24+ bytes)
const Whsec = T.String({ pattern: '^whsec_' })

export const EcapiConfig = T.Object({
  url: T.String({
    pattern: '^https?://',
    description: "The partner's ECAPI endpoint (ECAPI defines no path)",
  }),
  data_set_id: T.Optional(
    T.String({ minLength: 1, maxLength: 255, description: "Partner's data set; default: the signal's" }),
  ),
  events: T.Optional(
    T.Record(T.String({ minLength: 1 }), T.String({ pattern: EVENT_TYPE_VALUE }), {
      description: 'signal name or glob → ECAPI event_type or custom:<name>; "" = never send',
    }),
  ),
  click_id_from: T.Optional(
    T.Union(
      CLICK_ID_SOURCES.map((s) => T.Literal(s)),
      { description: "which captured click id is this partner's user_data.click_id" },
    ),
  ),
  /** `whsec_<base64>`; a list during key rotation (each signs, the header lists every signature). */
  secret: T.Optional(T.Union([Whsec, T.Array(Whsec, { minItems: 1 })])),
  bearer_token: T.Optional(
    T.String({ minLength: 1, description: 'sent as Authorization: Bearer (a secret)' }),
  ),
  headers: T.Optional(T.Record(T.String(), T.String())),
  envelope: T.Optional(T.Union([T.Literal('single'), T.Literal('batch')], { default: 'single' })),
  batch_key: T.Optional(T.String({ minLength: 1, default: 'events' })),
  phone_region: T.Optional(T.String({ pattern: '^[A-Z]{2}$' })),
  test_url: T.Optional(
    T.String({ pattern: '^https?://', description: "Partner's test endpoint, used in test mode" }),
  ),
})
export type EcapiConfig = Static<typeof EcapiConfig>

interface Pending {
  index: number
  id: string
  event: EcapiEvent
}

export const ecapiDestination: DestinationDefinition<typeof EcapiConfig> = {
  type: 'ecapi',
  configSchema: EcapiConfig,
  defaults: {
    // one event per request unless the partner takes batches (then set batch_size): the call-connected path
    // must not wait for a batch to fill
    batchSize: 1,
    // same as the webhook destination: a partner endpoint is a webhook receiver in all but name
    concurrency: 8,
    // Standard Webhooks' 15–30 s guidance, low end: a stuck partner must not hold a worker
    timeoutMs: 15_000,
  },
  secrets: ['secret', 'bearer_token'],
  check: (config) => whsecProblems(config.secret),
  create: (_name, config) => createEcapi(config),
}

/**
 * `webhook-id` for a request: the signal id for one event (stable across retries, the receiver's idempotency
 * key); for a batch, a digest of its ids in order (stable while the batch is re-sent as is; events still
 * dedupe on `data_set_id` + `id` when batches re-form).
 *
 * @example messageId(['sig-1']) // 'sig-1'
 */
export function messageId(ids: string[]): string {
  if (ids.length === 1) return ids[0]
  return `batch_${createHash('sha256').update(ids.join('\n')).digest('base64url').slice(0, 32)}`
}

function createEcapi(config: EcapiConfig & CommonDestinationConfig): Destination {
  const envelope: Envelope =
    config.envelope === 'batch' ? { mode: 'batch', key: config.batch_key ?? 'events' } : { mode: 'single' }
  const perRequest =
    envelope.mode === 'single' ? 1 : Math.max(1, config.batch_size ?? ecapiDestination.defaults.batchSize)
  const timeoutMs = config.timeout_ms ?? ecapiDestination.defaults.timeoutMs
  const whsecs =
    config.secret === undefined ? [] : Array.isArray(config.secret) ? config.secret : [config.secret]
  const secrets = [...whsecs, ...(config.bearer_token ? [config.bearer_token] : [])]

  async function send(jobs: DestinationJob[], ctx: DestinationContext): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(jobs.length)
    // ECAPI has no test flag: a test run against the live endpoint would count as real conversions
    const target = targetUrl(config, ctx, 'ECAPI')
    if ('refused' in target) return jobs.map(() => target.refused)
    const { url, test } = target
    const pending: Pending[] = []
    jobs.forEach((job, index) => {
      const built = buildEcapiEvent(job.signal, {
        events: config.events,
        dataSetId: config.data_set_id,
        clickIdFrom: config.click_id_from,
        phoneRegion: config.phone_region,
        test,
      })
      if (built.ok) pending.push({ index, id: job.signal.id, event: built.event })
      else outcomes[index] = { kind: 'permanent', code: built.code, message: built.message }
    })

    const post = async (group: Pending[]) => {
      const now = ctx.now()
      const timestamp = Math.floor(now / 1000)
      const body = requestBody(
        group.map((p) => p.event),
        envelope,
      )
      const id = messageId(group.map((p) => p.id))
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json',
        'user-agent': 'closeloop/0.1',
        ...(config.headers ?? {}),
      }
      if (config.bearer_token) headers.authorization = `Bearer ${config.bearer_token}`
      if (whsecs.length > 0) {
        // re-signed on every attempt: the timestamp is this attempt's (Standard Webhooks §1.1)
        headers['webhook-id'] = id
        headers['webhook-timestamp'] = String(timestamp)
        headers['webhook-signature'] = whsecs
          .map((s) => signStandardWebhook(s, id, timestamp, body))
          .join(' ')
      }
      const res = await ctx.http.request({ method: 'POST', url, headers, body, timeoutMs, secrets })
      return classifyEcapiResponse(res, ctx.now())
    }

    await sendIsolating(pending, perRequest, outcomes, post, {
      log: ctx.log,
      destination: 'ecapi',
      message: 'partner rejected a batch as invalid; splitting it to isolate the bad event',
    })
    for (const p of pending) outcomes[p.index] = { ...outcomes[p.index], matchKeys: matchKeysOf(p.event) }
    return outcomes
  }

  return { send }
}
