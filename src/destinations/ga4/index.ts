/**
 * `ga4`: conversion signals as Google Analytics 4 Measurement Protocol events,
 * `POST {base_url}/mp/collect?measurement_id=G-…&api_secret=…` with
 * `{ client_id, user_id?, timestamp_micros, user_data?, consent?, events: [{ name, params }] }`.
 *
 * The live endpoint answers 2xx even to events it drops, so everything GA4 would drop silently is checked
 * before sending (`payload.ts`), and test mode uses the validation server (`/debug/mp/collect`), whose
 * `validationMessages` become permanent outcomes (`errors.ts`). The `api_secret` is redacted from the log.
 *
 * @example
 *   destinations:
 *     ga4: { type: ga4, measurement_id: G-ABC123XYZ, api_secret: ${GA4_API_SECRET} }
 */
import { type Static, Type as T } from '@sinclair/typebox'
import type { Outcome } from '../../model/signal.ts'
import type {
  CommonDestinationConfig,
  Destination,
  DestinationContext,
  DestinationDefinition,
  DestinationJob,
} from '../contract.ts'
import { notSent } from '../isolate.ts'
import { classifyGa4Response } from './errors.ts'
import { buildGa4Hit, GA4_MAX_EVENTS, type Ga4Hit, groupRequests, matchKeysOf } from './payload.ts'

export const GA4_BASE_URL = 'https://www.google-analytics.com'

export const Ga4Config = T.Object({
  measurement_id: T.String({ pattern: '^G-[A-Z0-9]{4,20}$', description: 'Web data stream measurement ID' }),
  api_secret: T.String({
    minLength: 1,
    description: 'Measurement Protocol API secret of the stream (a secret)',
  }),
  events: T.Optional(
    T.Record(T.String({ minLength: 1 }), T.String({ pattern: '^(|[A-Za-z][A-Za-z0-9_]{0,39})$' }), {
      description: 'signal name or glob → GA4 event name; "" = never send',
    }),
  ),
  send_user_id: T.Optional(
    T.Boolean({
      default: false,
      description: 'send user_data.customer_identifier as user_id (consented only)',
    }),
  ),
  phone_region: T.Optional(T.String({ pattern: '^[A-Z]{2}$' })),
})
export type Ga4Config = Static<typeof Ga4Config>

export const ga4Destination: DestinationDefinition<typeof Ga4Config> = {
  type: 'ga4',
  audience: 'google',
  configSchema: Ga4Config,
  defaults: {
    // GA4's cap per request; only signals of one identity share a request, so most requests carry one event
    batchSize: GA4_MAX_EVENTS,
    // MP has no published rate limit short of abuse; 4 in flight is polite and keeps up with call volume
    concurrency: 4,
    // the collect endpoint answers in tens of ms; 10 s only guards against a hung connection
    timeoutMs: 10_000,
  },
  secrets: ['api_secret'],
  create: (_name, config) => createGa4(config),
}

function createGa4(config: Ga4Config & CommonDestinationConfig): Destination {
  const base = (config.base_url ?? GA4_BASE_URL).replace(/\/+$/, '')
  const query = `measurement_id=${encodeURIComponent(config.measurement_id)}&api_secret=${encodeURIComponent(config.api_secret)}`
  const perRequest = Math.max(1, Math.min(config.batch_size ?? GA4_MAX_EVENTS, GA4_MAX_EVENTS))
  const timeoutMs = config.timeout_ms ?? ga4Destination.defaults.timeoutMs

  async function send(jobs: DestinationJob[], ctx: DestinationContext): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(jobs.length)
    const debug = ctx.testMode || config.test_mode === true
    const nowMs = ctx.now()
    const hits: Array<{ index: number; hit: Ga4Hit }> = []
    jobs.forEach((job, index) => {
      const built = buildGa4Hit(job.signal, {
        events: config.events,
        sendUserId: config.send_user_id === true,
        phoneRegion: config.phone_region,
        nowMs,
      })
      if (built.ok) hits.push({ index, hit: built.hit })
      else outcomes[index] = { kind: 'permanent', code: built.code, message: built.message }
    })

    // the validation server does not say which event a message is about: one event per debug request
    const url = `${base}/${debug ? 'debug/' : ''}mp/collect?${query}`
    let halted: Outcome | undefined
    for (const request of groupRequests(hits, debug ? 1 : perRequest)) {
      if (halted) {
        for (const i of request.indexes) outcomes[i] = notSent(halted)
        continue
      }
      const res = await ctx.http.request({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', 'user-agent': 'closeloop/0.1' },
        body: JSON.stringify(request.body),
        timeoutMs,
        secrets: [config.api_secret],
      })
      const outcome = classifyGa4Response(res, ctx.now(), { debug })
      if (outcome.kind === 'paused' || outcome.kind === 'throttled') halted = outcome
      for (const i of request.indexes) outcomes[i] = { ...outcome }
    }
    for (const { index, hit } of hits) outcomes[index] = { ...outcomes[index], matchKeys: matchKeysOf(hit) }
    return outcomes
  }

  return { send }
}
