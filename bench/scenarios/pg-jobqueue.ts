/**
 * Issue 6 (iv): the job-queue workload — enqueue, claim, complete — through closeloop's PostgreSQL store and
 * through pg-boss, on the same database with the same job count, concurrency, batch size and pool size.
 * Both run in the bench process (the store API directly, no HTTP), rounds alternating between the two.
 */
import { performance } from 'node:perf_hooks'
import { closeloopQueue, type JobQueue, POOL_SIZE, pgBossQueue } from '../lib/jobqueue.ts'
import { createDatabase, postgresUnavailable } from '../lib/pg.ts'
import { median, round } from '../lib/stats.ts'
import type { Row, Scenario } from './types.ts'

/** 16 concurrent producers and 16 workers: a few per core, enough for both to keep every pooled connection busy. */
const CONCURRENCY = 16
/** Jobs claimed (and completed) per call: a delivery engine's typical batch. */
const CLAIM_BATCH = 50
/** Issue 6's goal: closeloop's queue at least twice pg-boss's jobs/s. */
const GOAL_RATIO = 2

interface RoundResult {
  enqueuePerS: number
  drainPerS: number
  totalPerS: number
  completed: number
}

async function runRound(q: JobQueue, jobs: number): Promise<RoundResult> {
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs) await q.enqueue(next++)
    }),
  )
  const t1 = performance.now()
  let completed = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const batch = await q.claim(CLAIM_BATCH)
        if (batch.length === 0) return
        await q.complete(batch)
        completed += batch.length
      }
    }),
  )
  const t2 = performance.now()
  return {
    enqueuePerS: jobs / ((t1 - t0) / 1000),
    drainPerS: completed / ((t2 - t1) / 1000),
    totalPerS: completed / ((t2 - t0) / 1000),
    completed,
  }
}

export const pgJobQueue: Scenario = {
  name: 'pg-jobqueue',
  title: '(k) job queue on PostgreSQL: closeloop store vs pg-boss',
  describe:
    `N jobs per round: ${CONCURRENCY} concurrent producers enqueue one job per call until N, then ` +
    `${CONCURRENCY} workers claim up to ${CLAIM_BATCH} and complete them until the queue is empty. closeloop = ` +
    'store.ingest (one event → one signal → one delivery) / claimDeliveries / recordAttempts; pg-boss = ' +
    `send / fetch({ batchSize }) / complete(ids). Pool of ${POOL_SIZE} connections each, one database, ` +
    'rounds alternate; jobs/s = N ÷ (enqueue + drain time).',
  unavailable: postgresUnavailable,
  async run(ctx) {
    // 3,000 jobs: each phase lasts seconds at the rates seen here, far longer than pool warm-up
    const jobs = ctx.quick ? 500 : 3_000
    const db = await createDatabase()
    const queues: JobQueue[] = []
    const results = new Map<string, RoundResult[]>()
    let opsPerCommit: number | undefined
    try {
      queues.push(await closeloopQueue(db.url), await pgBossQueue(db.url))
      // warm-up: a tenth of a round each (prepared statements, pool connections, JIT)
      for (const q of queues) await runRound(q, Math.ceil(jobs / 10))
      for (let r = 0; r < ctx.timing.rounds; r++)
        for (const q of queues) {
          const res = await runRound(q, jobs)
          ctx.log(
            `  ${q.label} round ${r + 1}/${ctx.timing.rounds}: enqueue ${Math.round(res.enqueuePerS)}/s, ` +
              `claim+complete ${Math.round(res.drainPerS)}/s, total ${Math.round(res.totalPerS)} jobs/s`,
          )
          if (res.completed !== jobs)
            throw new Error(`${q.label}: ${res.completed} of ${jobs} jobs completed`)
          results.set(q.label, [...(results.get(q.label) ?? []), res])
        }
      opsPerCommit = queues[0]?.opsPerCommit?.()
    } finally {
      for (const q of queues) await q.close().catch(() => undefined)
      await db.drop()
    }
    const rows: Row[] = []
    const medians: Record<string, number> = {}
    for (const [label, rounds] of results) {
      const total = median(rounds.map((x) => x.totalPerS))
      medians[label] = total
      rows.push({
        label,
        cells: {
          total: Math.round(total),
          rounds: rounds.map((x) => Math.round(x.totalPerS)).join(' / '),
          enqueue: Math.round(median(rounds.map((x) => x.enqueuePerS))),
          drain: Math.round(median(rounds.map((x) => x.drainPerS))),
        },
      })
    }
    const ratio = round((medians['closeloop store'] ?? 0) / (medians['pg-boss'] ?? Number.NaN), 2)
    return {
      columns: {
        total: 'jobs/s (median)',
        rounds: 'rounds jobs/s',
        enqueue: 'enqueue/s',
        drain: 'claim+complete/s',
      },
      rows,
      goals: [
        {
          what: 'closeloop / pg-boss jobs/s',
          target: `≥ ${GOAL_RATIO}`,
          actual: ratio.toFixed(2),
          met: ratio >= GOAL_RATIO,
        },
      ],
      notes: [
        'a closeloop "job" is 4 rows (raw input, event, signal, delivery) and an attempt row on completion; a pg-boss job is 1 row',
        `closeloop group commit: ${opsPerCommit === undefined ? '?' : round(opsPerCommit, 1)} enqueues per transaction (${CONCURRENCY} producers)`,
      ],
      data: {
        opsPerCommit,
        jobs,
        concurrency: CONCURRENCY,
        claimBatch: CLAIM_BATCH,
        poolSize: POOL_SIZE,
        rounds: Object.fromEntries(results),
      },
    }
  },
}
