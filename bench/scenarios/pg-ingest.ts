/**
 * Issue 6 (i): (a) and (b) on the PostgreSQL store — single-event ingest with a durable ack and batch ingest,
 * same client, same bodies, one closeloop node on a throwaway database (local PostgreSQL, synchronous_commit on).
 */
import { batchBody, singleBody } from '../lib/events.ts'
import { postgresUnavailable, startCloseloopOnPostgres } from '../lib/pg.ts'
import { round } from '../lib/stats.ts'
import { type ContenderResult, compareThroughput } from '../lib/throughput.ts'
import type { Row, Scenario, ScenarioContext } from './types.ts'

/** As (a): 32 connections keep both cores busy and give group commit several requests per transaction. */
const SINGLE_CONCURRENCY = 32
/** As (b): 100 events per request, 8 connections. */
const BATCH = 100
const BATCH_CONCURRENCY = 8

/**
 * Rounds of at most 5 s after a 2 s warm-up: PostgreSQL rounds differ less than SQLite's (the commit is not on
 * closeloop's event loop), and the whole bench must stay within ~8 minutes.
 */
export function pgTiming(ctx: ScenarioContext) {
  return {
    warmupMs: Math.min(ctx.timing.warmupMs, 2_000),
    roundMs: Math.min(ctx.timing.roundMs, 5_000),
    rounds: ctx.timing.rounds,
  }
}

function row(label: string, r: ContenderResult, eventsPerRequest: number): Row {
  const mid = r.rounds.find((x) => x.rps === r.medianRps) ?? r.rounds[0]
  return {
    label,
    cells: {
      rps: Math.round(r.medianRps),
      eps: Math.round(r.medianEventsPerSecond),
      rounds: r.rounds.map((x) => Math.round(x.eventsPerSecond)).join(' / '),
      p50: mid.latencyMs.p50,
      p99: mid.latencyMs.p99,
      cpu: mid.serverCpuPct ?? '',
      cpuUs:
        r.medianCpuMsPerRequest === undefined
          ? ''
          : round((r.medianCpuMsPerRequest * 1000) / eventsPerRequest, 0),
      errors: r.rounds.reduce((n, x) => n + x.errors, 0),
    },
  }
}

export const pgIngest: Scenario = {
  name: 'pg-ingest',
  title: '(h) ingest on PostgreSQL: single events and batches, durable ack',
  describe:
    `(a) and (b) against one closeloop node with store: { postgres } on a fresh database: closed loop, ` +
    `${SINGLE_CONCURRENCY} connections × 1 event, then ${BATCH_CONCURRENCY} connections × ${BATCH} events; ` +
    'answers after COMMIT (group commit, synchronous_commit on). No routes.',
  unavailable: postgresUnavailable,
  async run(ctx) {
    const timing = pgTiming(ctx)
    const start = () => startCloseloopOnPostgres({ nodeFlags: ctx.serverFlags })
    const [single] = await compareThroughput({
      contenders: [{ label: 'closeloop (PostgreSQL)', start }],
      path: '/v1/events',
      concurrency: SINGLE_CONCURRENCY,
      eventsPerRequest: 1,
      body: () => singleBody().body,
      ...timing,
      log: ctx.log,
    })
    const [batch] = await compareThroughput({
      contenders: [{ label: 'closeloop (PostgreSQL)', start }],
      path: '/v1/events',
      concurrency: BATCH_CONCURRENCY,
      eventsPerRequest: BATCH,
      body: () => batchBody(BATCH),
      ...timing,
      log: ctx.log,
    })
    return {
      columns: {
        rps: 'req/s (median)',
        eps: 'events/s (median)',
        rounds: 'rounds events/s',
        p50: 'req p50 ms',
        p99: 'req p99 ms',
        cpu: 'closeloop cpu %',
        cpuUs: 'closeloop cpu µs/event',
        errors: 'errors',
      },
      rows: [
        row(`single events (${SINGLE_CONCURRENCY} conn)`, single, 1),
        row(`batches of ${BATCH} (${BATCH_CONCURRENCY} conn)`, batch, BATCH),
      ],
      goals: [],
      notes: [
        'compare with (a) and (b) in the same run: same client and bodies, SQLite instead of PostgreSQL',
        'closeloop cpu excludes PostgreSQL, which shares the same 2 cores',
      ],
      data: { timing, single, batch },
    }
  },
}
