/**
 * Issue 6 (v): claiming from a large backlog. 1,000,000 pending deliveries (and their signals) are bulk-inserted
 * with `generate_series` straight into the store's tables after `migrate()`; then batches of 500 are claimed and
 * completed through the store API, one after another, until a sample of the backlog is drained. Claim latency
 * and the process's RSS must stay flat: the partial `deliveries_due` index makes a claim cost track the batch,
 * not the backlog.
 */
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { GRANTED } from '../../src/model/identity.ts'
import { newId } from '../../src/store/ids.ts'
import { openPostgresStore } from '../../src/store/postgres/index.ts'
import type { AttemptRecord } from '../../src/store/types.ts'
import { createDatabase, postgresUnavailable } from '../lib/pg.ts'
import { round, summarize } from '../lib/stats.ts'
import type { Row, Scenario } from './types.ts'

/** The brief's batch: what one engine sweep takes at once. */
const CLAIM = 500
/** Claims averaged at each end of the drain. */
const WINDOW = 10
/** "Flat": the last claims within this factor of the first ones. */
const FLAT_FACTOR = 1.5
const DESTINATION = 'jobs'

/** Signals and pending deliveries 1…n, due in the past in id order, as the store itself would have written them. */
async function bulkLoad(url: string, n: number, now: number) {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const occurred = Math.floor(now / 1000)
    const body = (g: string) =>
      `jsonb_build_object('id', 'sig_bl_' || ${g}, 'name', 'job', 'eventId', 'evt_bl_' || ${g}, 'dataSetId', 'bench',
        'occurredAt', $1::bigint, 'event', jsonb_build_object('data_set_id', 'bench', 'timestamp', $1::bigint,
        'event_type', 'contact'), 'consent', $3::jsonb, 'attrs', '{}'::jsonb, 'causes', '[]'::jsonb, 'createdAt', $2::bigint)`
    await c.query(
      `INSERT INTO signals (id, event_id, name, data_set_id, occurred_at, body, created_at)
       SELECT 'sig_bl_' || g, 'evt_bl_' || g, 'job', 'bench', $1, ${body('g')}, $2 FROM generate_series(1, $4::int) g`,
      [occurred, now, JSON.stringify(GRANTED), n],
    )
    // due_at spread over the last n ms so the claim order (due_at) is the insertion order
    await c.query(
      `INSERT INTO deliveries (id, signal_id, destination, status, attempts, due_at, idempotency_key, created_at, updated_at)
       SELECT 'dlv_bl_' || lpad(g::text, 8, '0'), 'sig_bl_' || g, $3, 'pending', 0, $1::bigint - $2::int + g,
         'sig_bl_' || g, $1, $1
       FROM generate_series(1, $2::int) g`,
      [now, n, DESTINATION],
    )
    // planner statistics as autovacuum would have them after a load this size
    await c.query('ANALYZE signals; ANALYZE deliveries')
  } finally {
    await c.end()
  }
}

export const pgBacklog: Scenario = {
  name: 'pg-backlog',
  title: '(l) claiming from a backlog of pending deliveries on PostgreSQL',
  describe:
    `A backlog of 1,000,000 pending deliveries (100,000 with --quick) bulk-loaded with generate_series; then ` +
    `claimDeliveries(limit ${CLAIM}) + recordAttempts(delivered), sequentially, until 50,000 (10,000) are drained. ` +
    `Claim latency of the first ${WINDOW} claims vs the last ${WINDOW}, and the bench process's RSS (the store ` +
    'runs in it) before and after.',
  unavailable: postgresUnavailable,
  async run(ctx) {
    const backlog = ctx.quick ? 100_000 : 1_000_000
    // 50,000 (100 claims) in full mode, 10,000 (20 claims) quick: enough for growth per claim to show, and more
    // than the two windows of 10 claims compared
    const drain = ctx.quick ? 10_000 : 50_000
    const db = await createDatabase()
    const store = await openPostgresStore(db.url, { poolSize: 4 })
    try {
      await store.migrate()
      const now = Date.now()
      const l0 = performance.now()
      await bulkLoad(db.url, backlog, now)
      const loadS = (performance.now() - l0) / 1000
      ctx.log(`  loaded ${backlog} pending deliveries in ${round(loadS, 1)} s`)
      globalThis.gc?.()
      const rss0 = process.memoryUsage().rss
      const token = newId('lease')
      const claimMs: number[] = []
      const completeMs: number[] = []
      let drained = 0
      while (drained < drain) {
        const c0 = performance.now()
        const jobs = await store.claimDeliveries({
          token,
          now: Date.now(),
          leaseMs: 60_000,
          limit: CLAIM,
          destinations: [DESTINATION],
        })
        const c1 = performance.now()
        if (jobs.length === 0) throw new Error(`backlog empty after ${drained}`)
        const at = Date.now()
        const records: AttemptRecord[] = jobs.map((j) => ({
          deliveryId: j.delivery.id,
          leaseToken: j.leaseToken,
          attempt: { deliveryId: j.delivery.id, n: 1, startedAt: at, outcome: 'delivered' },
          next: { status: 'delivered', dueAt: at, attempts: 1 },
        }))
        await store.recordAttempts(records, at)
        claimMs.push(c1 - c0)
        completeMs.push(performance.now() - c1)
        drained += jobs.length
      }
      const rss1 = process.memoryUsage().rss
      const first = summarize(claimMs.slice(0, WINDOW))
      const last = summarize(claimMs.slice(-WINDOW))
      const all = summarize(claimMs)
      const growth = round(last.p50 / first.p50, 2)
      const rssGrowthMiB = round((rss1 - rss0) / 2 ** 20, 1)
      ctx.log(
        `  claim p50 first ${round(first.p50)} ms, last ${round(last.p50)} ms; RSS ${round(rss0 / 2 ** 20)} → ${round(rss1 / 2 ** 20)} MiB`,
      )
      const rows: Row[] = [
        {
          label: `first ${WINDOW} claims (${backlog.toLocaleString('en-US')} pending)`,
          cells: { p50: round(first.p50), max: round(first.max), rss: round(rss0 / 2 ** 20) },
        },
        {
          label: `last ${WINDOW} claims (${(backlog - drain + CLAIM * WINDOW).toLocaleString('en-US')} pending)`,
          cells: { p50: round(last.p50), max: round(last.max), rss: round(rss1 / 2 ** 20) },
        },
        {
          label: `all ${claimMs.length} claims`,
          cells: { p50: round(all.p50), max: round(all.max), rss: '' },
        },
      ]
      return {
        columns: { p50: `claim ${CLAIM} p50 ms`, max: 'claim max ms', rss: 'bench RSS MiB' },
        rows,
        goals: [
          {
            what: 'claim latency last / first',
            target: `≤ ${FLAT_FACTOR}`,
            actual: growth.toFixed(2),
            met: growth <= FLAT_FACTOR,
          },
          {
            what: 'RSS growth over the drain',
            target: '≤ 50 MiB',
            actual: `${rssGrowthMiB} MiB`,
            met: rssGrowthMiB <= 50,
          },
        ],
        notes: [
          `bulk load of ${backlog.toLocaleString('en-US')} signals + deliveries: ${round(loadS, 1)} s (not part of the measurement)`,
          `complete (recordAttempts of ${CLAIM}) p50 ${round(summarize(completeMs).p50)} ms`,
        ],
        data: { backlog, drain, claim: CLAIM, loadS, claimMs, completeMs, rss0, rss1 },
      }
    } finally {
      await store.close().catch(() => undefined)
      await db.drop()
    }
  },
}
