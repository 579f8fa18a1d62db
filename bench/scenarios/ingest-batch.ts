/**
 * (b) Batch ingest: events per second with `{ events: [100 events] }` bodies.
 */
import { startBare, startCloseloop } from '../lib/closeloop.ts'
import { batchBody } from '../lib/events.ts'
import { round } from '../lib/stats.ts'
import { compareThroughput } from '../lib/throughput.ts'
import type { Scenario } from './types.ts'

/** 100 events: a typical CRM/back-office flush; the API allows up to 1,000. */
const BATCH = 100
/** 8 connections: 800 events in flight already fill a group commit; more only queues in the server. */
const CONCURRENCY = 8

export const ingestBatch: Scenario = {
  name: 'ingest-batch',
  title: `(b) batch ingest, ${BATCH} events per request`,
  describe:
    `Closed loop, ${CONCURRENCY} keep-alive connections, POST /v1/events with { events: [${BATCH}] } ` +
    '(each a unique ECAPI event), durable ack; no routes. The bare node:http server parses the same bodies ' +
    'for scale.',
  async run(ctx) {
    const results = await compareThroughput({
      contenders: [
        { label: 'closeloop', start: () => startCloseloop({ nodeFlags: ctx.serverFlags }) },
        { label: 'bare node:http', start: () => startBare() },
      ],
      path: '/v1/events',
      concurrency: CONCURRENCY,
      eventsPerRequest: BATCH,
      body: () => batchBody(BATCH),
      warmupMs: ctx.timing.warmupMs,
      roundMs: ctx.timing.roundMs,
      rounds: ctx.timing.rounds,
      log: ctx.log,
    })
    const [cl, bare] = results
    return {
      columns: {
        eps: 'events/s (median)',
        rounds: 'rounds events/s',
        p50: 'req p50 ms',
        p99: 'req p99 ms',
        cpu: 'server cpu %',
        cpuUs: 'server cpu µs/event',
        errors: 'errors',
      },
      rows: results.map((r) => {
        const mid = r.rounds.find((x) => x.rps === r.medianRps) ?? r.rounds[0]
        return {
          label: r.label,
          cells: {
            eps: Math.round(r.medianEventsPerSecond),
            rounds: r.rounds.map((x) => Math.round(x.eventsPerSecond)).join(' / '),
            p50: mid.latencyMs.p50,
            p99: mid.latencyMs.p99,
            cpu: mid.serverCpuPct ?? '',
            cpuUs:
              r.medianCpuMsPerRequest === undefined ? '' : round((r.medianCpuMsPerRequest * 1000) / BATCH, 1),
            errors: r.rounds.reduce((n, x) => n + x.errors, 0),
          },
        }
      }),
      goals: [],
      notes: [
        `closeloop / bare events/s: ${round(cl.medianEventsPerSecond / bare.medianEventsPerSecond, 3).toFixed(2)}`,
      ],
      data: { batch: BATCH, concurrency: CONCURRENCY, results },
    }
  },
}
