/**
 * (a) Single-event ingest throughput with a durable acknowledgement, against a bare `node:http` baseline.
 */
import { startBare, startCloseloop } from '../lib/closeloop.ts'
import { singleBody } from '../lib/events.ts'
import { round } from '../lib/stats.ts'
import { measureStoreFloor } from '../lib/store-floor.ts'
import { compareThroughput, throughputTable } from '../lib/throughput.ts'
import type { Scenario } from './types.ts'

/** 32 connections: enough to keep both cores busy and give group commit several requests per transaction. */
const CONCURRENCY = 32
/** DESIGN.md target: closeloop keeps at least 40 % of what a bare JSON server does on the same machine. */
const GOAL_RATIO = 0.4
/** Events for the store floor: ~3 s of writes, enough for a few checkpoints (every 16,000 events). */
const FLOOR_EVENTS = 64_000
/** Requests waiting on the floor's writer: the server's commits held 10–16 requests under (a)'s load (writer.ts). */
const FLOOR_CONCURRENCY = 16

export const ingestSingle: Scenario = {
  name: 'ingest-single',
  title: '(a) single-event ingest, durable ack vs bare node:http',
  describe:
    `Closed loop, ${CONCURRENCY} keep-alive connections, one ECAPI event per POST /v1/events; closeloop answers ` +
    'after the SQLite commit (WAL, synchronous=FULL, group commit). No routes, so this is ingest alone. ' +
    'The baseline reads the body, JSON.parses it and answers 200. Rounds alternate between the two servers. ' +
    "Then the store floor: the same request's rows written by the store's writer alone, in the bench process " +
    '(bench/lib/store-floor.ts), against the CPU per request that the goal leaves closeloop.',
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
    ctx.log('  store floor: the rows of one request through the writer alone')
    const floor = await measureStoreFloor({
      events: ctx.quick ? FLOOR_EVENTS / 4 : FLOOR_EVENTS,
      concurrency: FLOOR_CONCURRENCY,
    })
    // the CPU per request at which closeloop would cost 1/0.4 of the bare server: the goal, in CPU terms
    const budgetUs = bare.medianCpuMsPerRequest ? (bare.medianCpuMsPerRequest * 1000) / GOAL_RATIO : undefined
    const floorNote =
      `store floor: ${floor.cpuUsPerEvent.toFixed(1)} µs CPU per event (user ${floor.userUsPerEvent.toFixed(1)}, ` +
      `system ${floor.systemUsPerEvent.toFixed(1)}; ${floor.operationsPerCommit.toFixed(1)} per commit) for the ` +
      'raw input, event and signal rows through the writer, with no HTTP and no pipeline' +
      (budgetUs === undefined
        ? ''
        : `; the goal leaves closeloop ${budgetUs.toFixed(0)} µs CPU per request (bare ÷ ${GOAL_RATIO}), and the ` +
          `floor alone takes ${((floor.cpuUsPerEvent / budgetUs) * 100).toFixed(0)} % of it`)
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
      notes: [
        ...(cpuRatio === undefined
          ? []
          : [
              `CPU-cost ratio (bare ms/req ÷ closeloop ms/req) ${cpuRatio.toFixed(2)}: the throughput ratio ` +
                'a quiet machine with a core per process would approach',
            ]),
        floorNote,
      ],
      data: { concurrency: CONCURRENCY, ratio, cpuRatio, results, storeFloor: floor, budgetUs },
    }
  },
}
