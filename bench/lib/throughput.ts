/**
 * Throughput rounds against one or more servers with the same client: each server is started and warmed
 * up, then rounds alternate between servers (A B A B …) so slow drift on a noisy machine (another tenant,
 * thermal throttling, a growing database) hits every server alike; the median round is reported.
 */
import type { ServerChild } from './children.ts'
import { closedLoop, target } from './load.ts'
import { median, round, summarize } from './stats.ts'

export interface Contender {
  label: string
  start(): Promise<ServerChild>
}

export interface RoundResult {
  rps: number
  eventsPerSecond: number
  errors: number
  statuses: Record<string, number>
  latencyMs: { p50: number; p99: number; max: number }
  /** CPU used by the server during the round, in % of one core (Linux only). */
  serverCpuPct?: number
  /**
   * Server CPU milliseconds per request: far less sensitive to a noisy machine than req/s (a stalled server
   * waits without burning CPU), so the CPU-cost ratio is the steadier comparison.
   */
  serverCpuMsPerRequest?: number
  /** CPU used by the bench process (client) during the round, in % of one core. */
  clientCpuPct: number
}

export interface ContenderResult {
  label: string
  rounds: RoundResult[]
  medianRps: number
  medianEventsPerSecond: number
  medianCpuMsPerRequest?: number
}

export interface CompareOptions {
  contenders: Contender[]
  path: string
  concurrency: number
  /** Events per request body, to turn req/s into events/s. */
  eventsPerRequest: number
  body: () => string
  /** Request headers (default: JSON + API key). */
  headers?: Readonly<Record<string, string>>
  warmupMs: number
  roundMs: number
  rounds: number
  log(line: string): void
}

export async function compareThroughput(o: CompareOptions): Promise<ContenderResult[]> {
  const running: Array<{ c: Contender; child: ServerChild; t: ReturnType<typeof target> }> = []
  try {
    for (const c of o.contenders) {
      const child = await c.start()
      const t = target(child.port, o.concurrency)
      running.push({ c, child, t })
      o.log(`  ${c.label}: warm-up ${o.warmupMs} ms`)
      await closedLoop(t, {
        path: o.path,
        concurrency: o.concurrency,
        durationMs: o.warmupMs,
        body: o.body,
        headers: o.headers,
      })
    }
    const results = running.map(({ c }) => ({ label: c.label, rounds: [] as RoundResult[] }))
    for (let r = 0; r < o.rounds; r++) {
      for (const [i, { c, child, t }] of running.entries()) {
        const cpu0 = child.cpuSeconds()
        const client0 = process.cpuUsage()
        const res = await closedLoop(t, {
          path: o.path,
          concurrency: o.concurrency,
          durationMs: o.roundMs,
          body: o.body,
          headers: o.headers,
        })
        const cpu1 = child.cpuSeconds()
        const client = process.cpuUsage(client0)
        const lat = summarize(res.latencies)
        const serverCpu = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined
        const rr: RoundResult = {
          rps: round(res.rps),
          eventsPerSecond: round(res.rps * o.eventsPerRequest),
          errors: res.errors,
          statuses: res.statuses,
          latencyMs: { p50: round(lat.p50), p99: round(lat.p99), max: round(lat.max) },
          serverCpuPct: serverCpu !== undefined ? round((serverCpu / res.seconds) * 100, 0) : undefined,
          serverCpuMsPerRequest:
            serverCpu !== undefined && res.requests ? round((serverCpu * 1000) / res.requests, 3) : undefined,
          clientCpuPct: round(((client.user + client.system) / 1e6 / res.seconds) * 100, 0),
        }
        results[i].rounds.push(rr)
        o.log(
          `  ${c.label} round ${r + 1}/${o.rounds}: ${Math.round(rr.rps)} req/s, p99 ${rr.latencyMs.p99} ms, ` +
            `errors ${rr.errors}, server cpu ${rr.serverCpuPct ?? '?'}% (${rr.serverCpuMsPerRequest ?? '?'} ms/req), ` +
            `client cpu ${rr.clientCpuPct}%`,
        )
      }
    }
    return results.map((r) => ({
      ...r,
      medianRps: round(median(r.rounds.map((x) => x.rps))),
      medianEventsPerSecond: round(median(r.rounds.map((x) => x.eventsPerSecond))),
      medianCpuMsPerRequest: r.rounds.every((x) => x.serverCpuMsPerRequest !== undefined)
        ? round(median(r.rounds.map((x) => x.serverCpuMsPerRequest ?? 0)), 3)
        : undefined,
    }))
  } finally {
    for (const { t, child } of running) {
      await t.close().catch(() => undefined)
      await child.stop()
    }
  }
}

/**
 * The table every "closeloop vs bare" throughput scenario prints: per contender the median rate, each round's
 * rate, latency and server CPU of the median round, and errors. `unit` names what a request carries (req, click…).
 */
export function throughputTable(results: ContenderResult[], unit: string) {
  return {
    columns: {
      rps: `${unit}/s (median)`,
      rounds: `rounds ${unit}/s`,
      p50: 'p50 ms',
      p99: 'p99 ms',
      cpu: 'server cpu %',
      cpuMs: `server cpu ms/${unit}`,
      errors: 'errors',
    },
    rows: results.map((r) => {
      const mid = r.rounds.find((x) => x.rps === r.medianRps) ?? r.rounds[0]
      return {
        label: r.label,
        cells: {
          rps: Math.round(r.medianRps),
          rounds: r.rounds.map((x) => Math.round(x.rps)).join(' / '),
          p50: mid.latencyMs.p50,
          p99: mid.latencyMs.p99,
          cpu: mid.serverCpuPct ?? '',
          cpuMs: r.medianCpuMsPerRequest ?? '',
          errors: r.rounds.reduce((n, x) => n + x.errors, 0),
        },
      }
    }),
  }
}
