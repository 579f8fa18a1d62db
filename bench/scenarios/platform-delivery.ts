/**
 * Issue 4: how many conversions per second closeloop delivers to an ad platform, against the local Meta Graph
 * mock and the local Data Manager + OAuth token mocks (the same mocks the destination tests use: they validate
 * every request like the real APIs and count the events they accepted). One platform at a time, a fresh
 * closeloop each, so neither competes with the other for the two cores.
 */
import { performance } from 'node:perf_hooks'
import { startMockTokenServer } from '../../src/destinations/google/mock-token-server.ts'
import { startMockDataManager } from '../../src/destinations/google_data_manager/mock-server.ts'
import { startMockGraph } from '../../src/destinations/meta_capi/mock-server.ts'
import { startCloseloop } from '../lib/closeloop.ts'
import { conversionBatch } from '../lib/conversions.ts'
import { closedLoop, target } from '../lib/load.ts'
import { round } from '../lib/stats.ts'
import type { Row, Scenario } from './types.ts'

/** 100 conversions per ingest request: a CRM flush (as (b)). */
const INGEST_BATCH = 100
/** 4 connections: ingest is not what is measured here, it only has to outpace delivery. */
const INGEST_CONNECTIONS = 4
/** Delivery must finish within this; a platform slower than N / 60 s is reported as incomplete. */
const DELIVERY_TIMEOUT_MS = 60_000
const META_PIXEL = '1234567890'
const META_TOKEN = 'bench-meta-token'
const GOOGLE_ACCOUNT = '1234567890'
const GOOGLE_ACTION = '444'
const OAUTH_CLIENT = { clientId: 'bench-client', clientSecret: 'bench-secret', refreshToken: 'bench-refresh' }

interface Platform {
  label: string
  /** Starts the mock; returns the destination config and a counter of accepted events. */
  start(): Promise<{
    destination: Record<string, unknown>
    accepted(): number
    requests(): number
    close(): Promise<void>
  }>
}

const PLATFORMS: Platform[] = [
  {
    label: 'Meta CAPI (meta_capi → Graph mock)',
    async start() {
      const graph = await startMockGraph({ tokens: [META_TOKEN], pixels: [META_PIXEL] })
      return {
        destination: {
          type: 'meta_capi',
          pixel_id: META_PIXEL,
          access_token: META_TOKEN,
          base_url: graph.url,
          allow_private: true,
          // the brief's batch size; Meta allows 1,000, and 100 keeps one bad event from failing a huge request
          batch_size: 100,
        },
        accepted: () => graph.accepted.length,
        requests: () => graph.requests.length,
        close: () => graph.close(),
      }
    },
  },
  {
    label: 'Google Data Manager (google_data_manager → DM + OAuth mocks)',
    async start() {
      const oauth = await startMockTokenServer({ clients: [OAUTH_CLIENT] })
      const dm = await startMockDataManager({
        tokens: oauth,
        conversionActions: [GOOGLE_ACTION],
        operatingAccountId: GOOGLE_ACCOUNT,
      })
      return {
        destination: {
          type: 'google_data_manager',
          client_id: OAUTH_CLIENT.clientId,
          client_secret: OAUTH_CLIENT.clientSecret,
          refresh_token: OAUTH_CLIENT.refreshToken,
          token_url: oauth.url,
          base_url: dm.url,
          allow_private: true,
          operating_account_id: GOOGLE_ACCOUNT,
          conversions: { closed_outcome: GOOGLE_ACTION },
          // batch_size and concurrency: the destination's defaults (1,000 and 4), as a deployment would run it
        },
        accepted: () => dm.events.size,
        requests: () => dm.received.length,
        close: async () => {
          await dm.close()
          await oauth.close()
        },
      }
    },
  },
]

export const platformDelivery: Scenario = {
  name: 'platform-delivery',
  title: '(f) delivery throughput to ad platforms (local API mocks)',
  describe:
    `Per platform, a fresh closeloop routes closed_outcome to one destination pointed at its local mock. N ` +
    `phone-call purchases with raw PII are ingested in batches of ${INGEST_BATCH} (${INGEST_CONNECTIONS} connections, ` +
    'closed loop, as fast as accepted); conversions/s = N ÷ (last event accepted by the mock − first ingest ' +
    'sent). The mocks run in the bench process and validate every request as the real APIs do.',
  async run(ctx) {
    // 5,000: many seconds per platform at the rates seen, far past start-up and the token fetch
    const total = ctx.quick ? 1_000 : 5_000
    const rows: Row[] = []
    const data: Record<string, unknown>[] = []
    for (const p of PLATFORMS) {
      const mock = await p.start()
      const cl = await startCloseloop({
        destinations: { ad: mock.destination },
        routes: [{ signals: ['closed_outcome'], to: ['ad'] }],
        nodeFlags: ctx.serverFlags,
      }).catch(async (err) => {
        await mock.close()
        throw err
      })
      const t = target(cl.port, INGEST_CONNECTIONS)
      try {
        const cpu0 = cl.cpuSeconds()
        const t0 = performance.now()
        let sent = 0
        // closedLoop with a per-request budget: stop exactly at `total` conversions
        const ingest = await closedLoop(t, {
          path: '/v1/events',
          concurrency: INGEST_CONNECTIONS,
          durationMs: 120_000,
          body: () => {
            sent += INGEST_BATCH
            return conversionBatch(INGEST_BATCH)
          },
          stopAfter: total / INGEST_BATCH,
        })
        const ingestS = (performance.now() - t0) / 1000
        const deadline = t0 + DELIVERY_TIMEOUT_MS
        while (mock.accepted() < total && performance.now() < deadline) await sleep(10)
        const doneS = (performance.now() - t0) / 1000
        const cpu1 = cl.cpuSeconds()
        const accepted = mock.accepted()
        const perS = accepted / doneS
        const cpuUs = cpu0 !== undefined && cpu1 !== undefined ? round(((cpu1 - cpu0) * 1e6) / total, 0) : ''
        ctx.log(
          `  ${p.label}: ${accepted}/${total} accepted in ${round(doneS)} s (ingest ${round(ingestS)} s, ` +
            `${ingest.errors} ingest errors), ${mock.requests()} API requests, ${Math.round(perS)}/s`,
        )
        rows.push({
          label: p.label,
          cells: {
            n: total,
            accepted,
            ingestS: round(ingestS),
            doneS: round(doneS),
            lagMs: Math.round((doneS - ingestS) * 1000),
            perS: Math.round(perS),
            requests: mock.requests(),
            cpuUs,
          },
        })
        data.push({
          platform: p.label,
          total,
          accepted,
          sent,
          ingestS,
          doneS,
          perS,
          requests: mock.requests(),
          cpuUs,
        })
      } finally {
        await t.close().catch(() => undefined)
        await cl.stop()
        await mock.close()
      }
    }
    return {
      columns: {
        n: 'conversions',
        accepted: 'accepted by mock',
        ingestS: 'ingest done s',
        doneS: 'all delivered s',
        lagMs: 'delivered after last ingest ms',
        perS: 'conversions/s',
        requests: 'API requests',
        cpuUs: 'closeloop cpu µs/conv',
      },
      rows,
      goals: [],
      notes: [
        'conversions/s spans ingest + delivery (from the first ingest request): delivery starts as the first batch ' +
          'commits, so when "delivered after last ingest" is small, ingest (call rules + commit) was the bottleneck, not delivery',
        'closeloop cpu µs/conv = the closeloop process over the whole run: ingest, call rules, hashing, HTTP to the mock',
      ],
      data: { ingestBatch: INGEST_BATCH, platforms: data },
    }
  },
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
