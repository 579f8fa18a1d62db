/**
 * (c) Ingest → postback-delivered latency at fixed open-loop rates: the call-connected hot path of DESIGN.md §2
 * (webhook received → destination request sent, goal p99 < 10 ms). Measured end to end from the client's send
 * to the receiver's arrival, so it includes both HTTP hops and the durable commit: an upper bound on the
 * overhead the design budgets. `makeDeliveryLatency` builds the same measurement on another store.
 */

import { startCloseloop } from '../lib/closeloop.ts'
import { singleBody } from '../lib/events.ts'
import { LATENCY_COLUMNS, measureLatency } from '../lib/latency.ts'
import { target } from '../lib/load.ts'
import { createDatabase, type Database, postgresUnavailable } from '../lib/pg.ts'
import { startReceiver } from '../lib/receiver.ts'
import { round } from '../lib/stats.ts'
import type { Row, Scenario } from './types.ts'

/** DESIGN.md §2: webhook received → destination request sent, p99 < 10 ms. */
const GOAL_P99_MS = 10
/** Rates × ingest time stay far below this, so the client never queues a request behind a busy socket. */
const CLIENT_CONNECTIONS = 64
/** The postback concurrency the brief fixes; also the destination's fan-out under load. */
const POSTBACK_CONCURRENCY = 16

export interface DeliveryLatencyOptions {
  name: string
  title: string
  /** Events per second, one measured window each; the goal is checked at the last one. */
  rates: number[]
  /** Run on a throwaway PostgreSQL database instead of a SQLite file. */
  postgres?: boolean
}

export function makeDeliveryLatency(opts: DeliveryLatencyOptions): Scenario {
  const goalRate = opts.rates[opts.rates.length - 1]
  return {
    name: opts.name,
    title: opts.title,
    describe:
      `Open loop at ${opts.rates.join(' and ')} events/s${opts.postgres ? ' on the PostgreSQL store' : ''}: ` +
      'single events sent on a 1 ms timer without waiting for answers; a postback destination (GET, ' +
      `concurrency ${POSTBACK_CONCURRENCY}) routes every signal to a receiver in the bench process. ` +
      'Latency = receiver arrival − client send (same clock). Also the ingest response time (send → 200 after commit).',
    unavailable: opts.postgres ? postgresUnavailable : undefined,
    async run(ctx) {
      let db: Database | undefined
      if (opts.postgres) db = await createDatabase()
      const rx = await startReceiver()
      const cl = await startCloseloop({
        destinations: {
          pb: {
            type: 'postback',
            method: 'GET',
            // ext.bench_id echoes the client's id; {event_id} is the signal id, unknown to the client at send time
            url: `http://127.0.0.1:${rx.port}/pb?id={ext.bench_id}&t={timestamp}`,
            allow_private: true,
            concurrency: POSTBACK_CONCURRENCY,
          },
        },
        routes: [{ signals: ['*'], to: ['pb'] }],
        postgres: db?.url,
        nodeFlags: ctx.serverFlags,
      }).catch(async (err) => {
        await rx.close()
        await db?.drop()
        throw err
      })
      const t = target(cl.port, CLIENT_CONNECTIONS)
      const rows: Row[] = []
      const perRate: Record<string, unknown>[] = []
      let goalP99 = Number.NaN
      try {
        for (const rate of opts.rates) {
          const r = await measureLatency({
            t,
            rx,
            server: cl,
            rate,
            path: '/v1/events',
            warmupMs: ctx.timing.warmupMs,
            durationMs: ctx.timing.latencyMs,
            next: singleBody,
            eventIdOf: (body) => (JSON.parse(body) as { event_id: string }).event_id,
            log: ctx.log,
          })
          if (rate === goalRate) goalP99 = r.delivered.p99
          rows.push({ ...r.row, label: `${rate} events/s` })
          perRate.push(r.data)
        }
      } finally {
        await t.close().catch(() => undefined)
        await cl.stop()
        await rx.close()
        await db?.drop()
      }
      return {
        columns: LATENCY_COLUMNS,
        rows,
        goals: [
          {
            what: `delivered p99 at ${goalRate.toLocaleString('en-US')} events/s`,
            target: `≤ ${GOAL_P99_MS} ms`,
            actual: `${round(goalP99)} ms`,
            met: goalP99 <= GOAL_P99_MS,
          },
        ],
        notes: [
          `duplicate postbacks received: ${rx.duplicates()}`,
          `sender timer lag, max per rate: ${perRate.map((r) => `${r.rate}/s ${r.maxScheduleLagMs} ms`).join(', ')} ` +
            '(how late the bench process itself ran; large = the client was starved too)',
          'split = p50 of a traced sample: client send → handler / handler → postback send starts / → receiver ' +
            '(server clock has 1 ms resolution)',
        ],
        data: {
          store: opts.postgres ? 'postgres' : 'sqlite',
          rates: perRate,
          postbackConcurrency: POSTBACK_CONCURRENCY,
          clientConnections: CLIENT_CONNECTIONS,
        },
      }
    },
  }
}

/** 200/s is a busy call center's peak; 1,000/s is the design's stress point for the p99 goal. */
export const deliveryLatency = makeDeliveryLatency({
  name: 'delivery-latency',
  title: '(c) ingest → postback delivered latency, open loop',
  rates: [200, 1_000],
})
