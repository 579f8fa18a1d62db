/**
 * `meta_capi`: conversion signals to Meta's Conversions API,
 * `POST {base_url}/{api_version}/{pixel_id}/events` with `{ data: [...], test_event_code? }` and the access
 * token as `Authorization: Bearer` (redacted in the attempt log).
 *
 * Meta discards a whole request when one event in it is invalid, so every event is validated before it is
 * batched (`payload.ts`), and when Meta still rejects a batch for an invalid parameter, the batch is split
 * (the event Meta names, else halves) and resent until each bad event is alone: good events are delivered,
 * the bad one is dead-lettered with Meta's message. Errors are classified by Meta's code (`errors.ts`).
 *
 * @example
 *   destinations:
 *     meta: { type: meta_capi, pixel_id: "1234567890", access_token: ${META_TOKEN} }
 */
import { createHmac } from 'node:crypto'
import { type Static, Type as T } from '@sinclair/typebox'
import type { Outcome } from '../../model/signal.ts'
import type {
  CommonDestinationConfig,
  Destination,
  DestinationContext,
  DestinationDefinition,
  DestinationJob,
} from '../contract.ts'
import { sendIsolating } from '../isolate.ts'
import { classifyResponse } from './errors.ts'
import { buildServerEvent, type MetaRequestBody, type MetaServerEvent, matchKeysOf } from './payload.ts'

/** Graph API version of the current official Node SDK (v26.0); versions live about two years. */
export const DEFAULT_API_VERSION = 'v26.0'
export const DEFAULT_BASE_URL = 'https://graph.facebook.com'
/** Meta's hard limit of events per request. */
export const MAX_EVENTS_PER_REQUEST = 1000

export const MetaCapiConfig = T.Object({
  pixel_id: T.String({
    pattern: '^[0-9]{1,32}$',
    description: 'Meta pixel / dataset ID (digits), as shown in Events Manager',
  }),
  access_token: T.String({ minLength: 1, description: 'System-user or app access token (a secret)' }),
  api_version: T.Optional(T.String({ pattern: '^v[0-9]+\\.[0-9]+$', default: DEFAULT_API_VERSION })),
  events: T.Optional(
    T.Record(T.String({ minLength: 1 }), T.String(), {
      description: 'signal name or glob → Meta event_name; "" means never send that signal to Meta',
    }),
  ),
  test_event_code: T.Optional(
    T.String({ minLength: 1, description: 'Events Manager test code, sent in test mode only' }),
  ),
  app_secret: T.Optional(
    T.String({ minLength: 1, description: 'App secret: adds appsecret_proof when the app requires it' }),
  ),
  phone_region: T.Optional(
    T.String({ pattern: '^[A-Z]{2}$', description: 'Region for phone numbers without a country code' }),
  ),
  crm_name: T.Optional(
    T.String({ minLength: 1, description: 'CRM name for Conversion Leads (custom_data.lead_event_source)' }),
  ),
})
export type MetaCapiConfig = Static<typeof MetaCapiConfig>

interface Pending {
  /** Position of the job in the batch handed to `send`. */
  index: number
  event: MetaServerEvent
}

export const metaCapiDestination: DestinationDefinition<typeof MetaCapiConfig> = {
  type: 'meta_capi',
  audience: 'meta',
  configSchema: MetaCapiConfig,
  defaults: {
    // small batches: Meta fails a whole request for one bad event, so this bounds the blast radius and the
    // isolation cost (≈ 2·log2(100) ≈ 14 extra requests in the worst case for one unnamed bad event)
    batchSize: 100,
    // Meta's CAPI limits are per pixel and generous; 4 in flight keeps latency low without bursts
    concurrency: 4,
    // Meta advises 1.5 s for single events; a 100-event batch with slow paths needs headroom
    timeoutMs: 5000,
  },
  secrets: ['access_token', 'app_secret'],
  create: (_name, config) => createMetaCapi(config),
}

function createMetaCapi(config: MetaCapiConfig & CommonDestinationConfig): Destination {
  const base = (config.base_url ?? DEFAULT_BASE_URL).replace(/\/+$/, '')
  const url = `${base}/${config.api_version ?? DEFAULT_API_VERSION}/${config.pixel_id}/events`
  const perRequest = Math.max(
    1,
    Math.min(config.batch_size ?? metaCapiDestination.defaults.batchSize, MAX_EVENTS_PER_REQUEST),
  )
  const timeoutMs = config.timeout_ms ?? metaCapiDestination.defaults.timeoutMs
  const secrets = [config.access_token, ...(config.app_secret ? [config.app_secret] : [])]
  const appsecretProof = config.app_secret
    ? createHmac('sha256', config.app_secret).update(config.access_token).digest('hex')
    : undefined

  async function send(jobs: DestinationJob[], ctx: DestinationContext): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(jobs.length)
    const testMode = ctx.testMode || config.test_mode === true
    if (testMode && !config.test_event_code) {
      // sending live in a test run would count test conversions as real ones
      const message = 'test mode needs test_event_code (Events Manager → Test events) in this destination'
      return jobs.map(() => ({ kind: 'permanent', code: 'META_TEST_CODE_MISSING', message }))
    }
    const nowMs = ctx.now()
    const pending: Pending[] = []
    jobs.forEach((job, index) => {
      const built = buildServerEvent(job.signal, {
        events: config.events,
        crmName: config.crm_name,
        phoneRegion: config.phone_region,
        nowMs,
      })
      if (built.ok) pending.push({ index, event: built.event })
      else outcomes[index] = { kind: 'permanent', code: built.code, message: built.message }
    })

    const post = async (group: Pending[]) => {
      const body: MetaRequestBody = { data: group.map((p) => p.event) }
      if (testMode) body.test_event_code = config.test_event_code
      if (appsecretProof) body.appsecret_proof = appsecretProof
      const res = await ctx.http.request({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${config.access_token}` },
        body: JSON.stringify(body),
        timeoutMs,
        secrets,
      })
      return classifyResponse(res, ctx.now())
    }

    await sendIsolating(pending, perRequest, outcomes, post, {
      log: ctx.log,
      destination: 'meta_capi',
      message: 'Meta rejected a batch for an invalid parameter; isolating the bad event',
    })
    for (const p of pending) outcomes[p.index] = { ...outcomes[p.index], matchKeys: matchKeysOf(p.event) }
    return outcomes
  }

  return { send }
}
