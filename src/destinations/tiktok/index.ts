/**
 * `tiktok`: conversion signals to the TikTok Events API 2.0,
 * `POST {base_url}/open_api/v1.3/event/track/` with the `Access-Token` header (redacted in the attempt log)
 * and `{ event_source, event_source_id, data: [...], test_event_code? }`.
 *
 * TikTok answers errors with HTTP 200 and a code in the body (`errors.ts`). Events are validated before
 * batching (`payload.ts`); when TikTok still rejects a batch for an invalid parameter (40002), the batch is
 * split until the bad event is alone, so good events are delivered and the bad one dead-lettered.
 *
 * @example
 *   destinations:
 *     tiktok: { type: tiktok, event_source: offline, event_source_id: "7321…", access_token: ${TIKTOK_TOKEN} }
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
import { sendIsolating } from '../isolate.ts'
import { classifyTikTokResponse } from './errors.ts'
import {
  buildTikTokEvent,
  EVENT_SOURCES,
  matchKeysOf,
  TIKTOK_MAX_EVENTS,
  type TikTokEvent,
  type TikTokRequestBody,
} from './payload.ts'

export const TIKTOK_BASE_URL = 'https://business-api.tiktok.com'
export const TIKTOK_TRACK_PATH = '/open_api/v1.3/event/track/'

export const TikTokConfig = T.Object({
  access_token: T.String({ minLength: 1, description: 'Events API access token (a secret)' }),
  event_source: T.Optional(
    T.Union(
      EVENT_SOURCES.map((s) => T.Literal(s)),
      { default: 'offline', description: 'offline (calls), crm, web or app: which kind of event set' },
    ),
  ),
  event_source_id: T.String({
    minLength: 1,
    description: 'Offline / CRM event set id, pixel code (web) or app id',
  }),
  events: T.Optional(
    T.Record(T.String({ minLength: 1 }), T.String(), {
      description: 'signal name or glob → TikTok event; "" = never send',
    }),
  ),
  test_event_code: T.Optional(
    T.String({ minLength: 1, description: 'Events Manager test code, test mode only' }),
  ),
  phone_region: T.Optional(T.String({ pattern: '^[A-Z]{2}$' })),
})
export type TikTokConfig = Static<typeof TikTokConfig>

interface Pending {
  index: number
  event: TikTokEvent
}

export const tiktokDestination: DestinationDefinition<typeof TikTokConfig> = {
  type: 'tiktok',
  configSchema: TikTokConfig,
  defaults: {
    // small batches bound the blast radius of a rejected request and the cost of isolating it, as for Meta
    batchSize: 100,
    // TikTok's rate limits are per app and undocumented in numbers; 4 in flight avoids bursts
    concurrency: 4,
    // the track endpoint answers in well under a second; 10 s leaves room for a 100-event batch
    timeoutMs: 10_000,
  },
  secrets: ['access_token'],
  create: (_name, config) => createTikTok(config),
}

function createTikTok(config: TikTokConfig & CommonDestinationConfig): Destination {
  const url = `${(config.base_url ?? TIKTOK_BASE_URL).replace(/\/+$/, '')}${TIKTOK_TRACK_PATH}`
  const perRequest = Math.max(
    1,
    Math.min(config.batch_size ?? tiktokDestination.defaults.batchSize, TIKTOK_MAX_EVENTS),
  )
  const timeoutMs = config.timeout_ms ?? tiktokDestination.defaults.timeoutMs

  async function send(jobs: DestinationJob[], ctx: DestinationContext): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(jobs.length)
    const testMode = ctx.testMode || config.test_mode === true
    if (testMode && !config.test_event_code) {
      // sending live in a test run would count test conversions as real ones
      const message = 'test mode needs test_event_code (Events Manager → Test events) in this destination'
      return jobs.map(() => ({ kind: 'permanent', code: 'TIKTOK_TEST_CODE_MISSING', message }))
    }
    const nowMs = ctx.now()
    const pending: Pending[] = []
    jobs.forEach((job, index) => {
      const built = buildTikTokEvent(job.signal, {
        events: config.events,
        phoneRegion: config.phone_region,
        nowMs,
      })
      if (built.ok) pending.push({ index, event: built.event })
      else outcomes[index] = { kind: 'permanent', code: built.code, message: built.message }
    })

    const post = async (group: Pending[]) => {
      const body: TikTokRequestBody = {
        event_source: config.event_source ?? 'offline',
        event_source_id: config.event_source_id,
        data: group.map((p) => p.event),
      }
      if (testMode) body.test_event_code = config.test_event_code
      const res = await ctx.http.request({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', 'access-token': config.access_token },
        body: JSON.stringify(body),
        timeoutMs,
        secrets: [config.access_token],
      })
      return classifyTikTokResponse(res, ctx.now())
    }

    await sendIsolating(pending, perRequest, outcomes, post, {
      log: ctx.log,
      destination: 'tiktok',
      message: 'TikTok rejected a batch for an invalid parameter; isolating the bad event',
    })
    for (const p of pending) outcomes[p.index] = { ...outcomes[p.index], matchKeys: matchKeysOf(p.event) }
    return outcomes
  }

  return { send }
}
