/**
 * (a) Single-event ingest throughput with a durable acknowledgement, against a bare `node:http` baseline.
 */
import { startBare, startCloseloop } from '../lib/closeloop.ts'
import { singleBody } from '../lib/events.ts'
import { round } from '../lib/stats.ts'
import { compareThroughput, throughputTable } from '../lib/throughput.ts'
import type { Scenario } from './types.ts'

/** 32 connections: enough to keep both cores busy and give group commit several requests per transaction. */
const CONCURRENCY = 32
/** DESIGN.md target: closeloop keeps at least 40 % of what a bare JSON server does on the same machine. */
const GOAL_RATIO = 0.4

export const ingestSingle: Scenario = {
  name: 'ingest-single',
  title: '(a) single-event ingest, durable ack vs bare node:http',
  describe:
    `Closed loop, ${CONCURRENCY} keep-alive connections, one ECAPI event per POST /v1/events; closeloop answers ` +
    'after the SQLite commit (WAL, synchronous=FULL, group commit). No routes, so this is ingest alone. ' +
    'The baseline reads the body, JSON.parses it and answers 200. Rounds alternate between the two servers.',
  async run(ctx) {
    const results = await compareThroughput({
      contenders: [
        { label: 'closeloop', start: () => startCloseloop({ nodeFlags: ctx.serverFlags }) },
        { label: 'bare node:http', start: () => startBare() },
      ],
      path: '/v1/events',
      concurrency: CONCURRENCY,
      eventsPerRequest: 1,
      body: () => singleBody().body,
      warmupMs: ctx.timing.warmupMs,
      roundMs: ctx.timing.roundMs,
      rounds: ctx.timing.rounds,
      log: ctx.log,
    })
    const [cl, bare] = results
    const ratio = round(cl.medianRps / bare.medianRps, 3)
    // bare cost / closeloop cost: what the throughput ratio would be if both had a whole core each
    const cpuRatio =
      cl.medianCpuMsPerRequest && bare.medianCpuMsPerRequest
        ? round(bare.medianCpuMsPerRequest / cl.medianCpuMsPerRequest, 3)
        : undefined
    return {
      ...throughputTable(results, 'req'),
      goals: [
        {
          what: 'closeloop / bare req/s',
          target: `≥ ${GOAL_RATIO}`,
          actual: ratio.toFixed(2),
          met: ratio >= GOAL_RATIO,
        },
      ],
      notes:
        cpuRatio === undefined
          ? []
          : [
              `CPU-cost ratio (bare ms/req ÷ closeloop ms/req) ${cpuRatio.toFixed(2)}: the throughput ratio ` +
                'a quiet machine with a core per process would approach',
            ],
      data: { concurrency: CONCURRENCY, ratio, cpuRatio, results },
    }
  },
}
