/**
 * Issue 6 (iii): end-to-end events/s with two closeloop nodes on one PostgreSQL database, against one node on
 * the same database and client: batches ingested round-robin across the nodes, every event routed to a
 * postback received in the bench process. An event counts once its postback arrived.
 */
import { performance } from 'node:perf_hooks'
import type { Closeloop } from '../lib/closeloop.ts'
import { startCloseloop } from '../lib/closeloop.ts'
import { eventFor, nextId } from '../lib/events.ts'
import { closedLoop, type Target, target } from '../lib/load.ts'
import { createDatabase, postgresUnavailable } from '../lib/pg.ts'
import { startReceiver } from '../lib/receiver.ts'
import { median, round } from '../lib/stats.ts'
import { pgTiming } from './pg-ingest.ts'
import type { Row, Scenario } from './types.ts'

/** As (b): 100 events per request. */
const BATCH = 100
/** 8 connections in total whatever the node count (as (b)), so 1 and 2 nodes get the same offered load. */
const CONNECTIONS = 8
/** Same postback fan-out per node as (c). */
const POSTBACK_CONCURRENCY = 16
/** Issue 6's goal for two nodes on one database. */
const GOAL_EVENTS_PER_S = 3_000
/**
 * A round's events still undelivered after this long are reported, not waited for. One node ingests ~12,000
 * events/s and delivers ~3,000/s, so a 5 s round takes ~20 s to drain; what is left over would compete with
 * the next round's deliveries.
 */
const DRAIN_TIMEOUT_MS = 40_000

export const pgTwoNodes: Scenario = {
  name: 'pg-two-nodes',
  title: '(j) end-to-end events/s, 1 vs 2 closeloop nodes on one PostgreSQL database',
  describe:
    `Closeloop nodes on one fresh database. Closed loop, ${CONNECTIONS} connections split round-robin ` +
    `over the nodes, { events: [${BATCH}] } per request; every event is routed to a postback (concurrency ` +
    `${POSTBACK_CONCURRENCY} per node). Per round: events/s = events sent in the round ÷ (last postback of ` +
    'those events − round start). Rounds with one node running, then a second node starts and rounds run ' +
    'with both. CPU per event counts every running node.',
  unavailable: postgresUnavailable,
  async run(ctx) {
    const timing = pgTiming(ctx)
    const db = await createDatabase()
    const rx = await startReceiver()
    const nodes: Closeloop[] = []
    const targets: Target[] = []
    const rows: Row[] = []
    const data: Record<string, unknown>[] = []
    try {
      for (const count of [1, 2]) {
        // the second node starts only for its rounds: running, it would claim and deliver half of the one-node
        // rounds' work (woken by their NOTIFYs) while its CPU went uncounted
        const node = await startCloseloop({
          name: `closeloop-${count}`,
          postgres: db.url,
          destinations: {
            pb: {
              type: 'postback',
              method: 'GET',
              url: `http://127.0.0.1:${rx.port}/pb?id={ext.bench_id}`,
              allow_private: true,
              concurrency: POSTBACK_CONCURRENCY,
            },
          },
          routes: [{ signals: ['*'], to: ['pb'] }],
          nodeFlags: ctx.serverFlags,
        })
        nodes.push(node)
        targets.push(target(node.port, CONNECTIONS))
        const use = targets.slice(0, count)
        const round1 = async (durationMs: number) => {
          const ids: string[] = []
          const body = () => {
            const events = []
            for (let i = 0; i < BATCH; i++) {
              const id = nextId()
              ids.push(id)
              events.push(eventFor(id))
            }
            return JSON.stringify({ events })
          }
          const cpu0 = nodes.map((x) => x.cpuSeconds() ?? 0)
          const t0 = performance.now()
          const results = await Promise.all(
            use.map((t) =>
              closedLoop(t, { path: '/v1/events', concurrency: CONNECTIONS / count, durationMs, body }),
            ),
          )
          const ingestS = (performance.now() - t0) / 1000
          const missing = await rx.waitFor(ids, DRAIN_TIMEOUT_MS)
          const cpu = nodes.map((x, i) => (x.cpuSeconds() ?? 0) - cpu0[i])
          let last = t0
          let delivered = 0
          for (const id of ids) {
            const at = rx.arrivals.get(id)
            if (at === undefined) continue
            delivered++
            if (at > last) last = at
          }
          const accepted = results.reduce((s, r) => s + r.requests, 0) * BATCH
          const errors = results.reduce((s, r) => s + r.errors, 0)
          return {
            sent: ids.length,
            accepted,
            errors,
            missing,
            ingestPerS: accepted / ingestS,
            endToEndPerS: delivered / ((last - t0) / 1000),
            cpuUsPerEvent: (cpu.reduce((s, c) => s + c, 0) * 1e6) / Math.max(1, delivered),
          }
        }
        ctx.log(`  ${count} node(s): warm-up ${timing.warmupMs} ms`)
        await round1(timing.warmupMs)
        const rounds = []
        for (let r = 0; r < timing.rounds; r++) {
          const res = await round1(timing.roundMs)
          ctx.log(
            `  ${count} node(s) round ${r + 1}/${timing.rounds}: ingest ${Math.round(res.ingestPerS)}/s, ` +
              `end-to-end ${Math.round(res.endToEndPerS)}/s, undelivered ${res.missing}, errors ${res.errors}`,
          )
          rounds.push(res)
        }
        const med = median(rounds.map((x) => x.endToEndPerS))
        rows.push({
          label: count === 1 ? '1 node' : '2 nodes',
          cells: {
            e2e: Math.round(med),
            rounds: rounds.map((x) => Math.round(x.endToEndPerS)).join(' / '),
            ingest: Math.round(median(rounds.map((x) => x.ingestPerS))),
            cpuUs: Math.round(median(rounds.map((x) => x.cpuUsPerEvent))),
            lost: rounds.reduce((s, x) => s + x.missing, 0),
            errors: rounds.reduce((s, x) => s + x.errors, 0),
          },
        })
        data.push({ nodes: count, medianEndToEndPerS: round(med), rounds })
      }
    } finally {
      for (const t of targets) await t.close().catch(() => undefined)
      for (const node of nodes) await node.stop()
      await rx.close()
      await db.drop()
    }
    const two = Number(rows[1]?.cells.e2e ?? Number.NaN)
    const one = Number(rows[0]?.cells.e2e ?? Number.NaN)
    return {
      columns: {
        e2e: 'end-to-end events/s (median)',
        rounds: 'rounds',
        ingest: 'ingest events/s',
        cpuUs: 'closeloop cpu µs/event (all nodes)',
        lost: `undelivered (${DRAIN_TIMEOUT_MS / 1000} s)`,
        errors: 'errors',
      },
      rows,
      goals: [
        {
          what: 'end-to-end events/s with 2 nodes',
          target: `≥ ${GOAL_EVENTS_PER_S.toLocaleString('en-US')}`,
          actual: String(two),
          met: two >= GOAL_EVENTS_PER_S,
        },
      ],
      notes: [
        `2 nodes / 1 node: ${round(two / one, 2)} — on 2 cores the nodes, PostgreSQL and the bench share the same CPUs`,
        `duplicate postbacks received: ${rx.duplicates()}`,
      ],
      data: { timing, batch: BATCH, connections: CONNECTIONS, runs: data },
    }
  },
}
