/**
 * The load generator (runs in the bench process; the server under test is always another process).
 *
 * - `closedLoop`: N connections, each sends its next request as soon as the previous answer arrived —
 *   measures throughput (what the server can sustain at that concurrency).
 * - `openLoop`: requests leave on a timer at a fixed rate whether or not earlier ones were answered —
 *   measures latency at a given load without coordinated omission (a slow answer does not slow the sender).
 *
 * Both use an undici `Pool` with keep-alive, so connection setup is never part of a measurement.
 */
import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'
import { API_KEY } from './closeloop.ts'

export interface Target {
  origin: string
  pool: Pool
  close(): Promise<void>
}

/** JSON with the bench API key: what every ECAPI request sends; other inputs (forms, clicks) pass their own. */
export const JSON_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  authorization: `Bearer ${API_KEY}`,
}

/** A keep-alive pool of exactly `connections` sockets to `port` on loopback. */
export function target(port: number, connections: number): Target {
  const origin = `http://127.0.0.1:${port}`
  const pool = new Pool(origin, {
    connections,
    // one request per socket at a time: HTTP/1.1 pipelining would hide per-request latency
    pipelining: 1,
    // longer than any round, shorter than the servers' 72 s keep-alive: sockets stay open for the whole run
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
  })
  return { origin, pool, close: () => pool.close() }
}

export interface ClosedLoopResult {
  requests: number
  errors: number
  /** Non-2xx answers by status. */
  statuses: Record<string, number>
  seconds: number
  /** Requests completed per second (2xx only). */
  rps: number
  /** Per-request response time in ms. */
  latencies: number[]
}

export interface ClosedLoopOptions {
  path: string
  /** Concurrent requests in flight (≤ the pool's connections). */
  concurrency: number
  durationMs: number
  body: () => string
  /** Request headers (default: JSON + API key). */
  headers?: Readonly<Record<string, string>>
  /** Stop after this many requests were sent (a fixed amount of work) even if `durationMs` has not passed. */
  stopAfter?: number
}

export async function closedLoop(t: Target, o: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const latencies: number[] = []
  const statuses: Record<string, number> = {}
  let ok = 0
  let errors = 0
  const headers = o.headers ?? JSON_HEADERS
  const start = performance.now()
  const end = start + o.durationMs
  let started = 0
  const stopAfter = o.stopAfter ?? Number.POSITIVE_INFINITY
  const worker = async () => {
    while (performance.now() < end && started < stopAfter) {
      started++
      const body = o.body()
      const t0 = performance.now()
      try {
        const res = await t.pool.request({ method: 'POST', path: o.path, headers, body })
        await res.body.dump()
        if (res.statusCode >= 200 && res.statusCode < 300) {
          ok++
          latencies.push(performance.now() - t0)
        } else {
          errors++
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
        }
      } catch {
        errors++
        statuses.network = (statuses.network ?? 0) + 1
      }
    }
  }
  await Promise.all(Array.from({ length: o.concurrency }, worker))
  const seconds = (performance.now() - start) / 1000
  return { requests: ok, errors, statuses, seconds, rps: ok / seconds, latencies }
}

export interface OpenLoopOptions {
  path: string
  /** Requests per second. */
  rate: number
  durationMs: number
  /** The body and the id the receiver will see for it (and its own headers; default JSON + API key). */
  next: () => { id: string; body: string; headers?: Readonly<Record<string, string>> }
  /** Called with the time (performance.now) just before each request is handed to the socket. */
  onSend?: (id: string, at: number) => void
  /** If set, 2xx answer bodies are read and handed here (otherwise they are discarded unread). */
  onAnswer?: (id: string, body: string) => void
}

export interface OpenLoopResult {
  sent: number
  errors: number
  statuses: Record<string, number>
  /** Ingest response time in ms (send → full answer), 2xx only. */
  latencies: number[]
  /** Largest delay between a request's scheduled time and its actual send, ms (timer/event-loop lag). */
  maxScheduleLagMs: number
  achievedRate: number
}

/**
 * Sends `rate` requests per second for `durationMs`. A 1 ms timer sends every request that is due, so at
 * 1,000/s about one request leaves per tick and a late tick catches up instead of lowering the rate.
 */
export async function openLoop(t: Target, o: OpenLoopOptions): Promise<OpenLoopResult> {
  const latencies: number[] = []
  const statuses: Record<string, number> = {}
  let errors = 0
  let sent = 0
  let maxLag = 0
  const pending = new Set<Promise<void>>()
  const total = Math.round((o.rate * o.durationMs) / 1000)
  const start = performance.now()

  const send = () => {
    const { id, body, headers } = o.next()
    const t0 = performance.now()
    o.onSend?.(id, t0)
    const p = t.pool
      .request({ method: 'POST', path: o.path, headers: headers ?? JSON_HEADERS, body })
      .then(async (res) => {
        if (res.statusCode < 200 || res.statusCode >= 300) {
          await res.body.dump()
          errors++
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
          return
        }
        const text = o.onAnswer ? await res.body.text() : ''
        if (!o.onAnswer) await res.body.dump()
        latencies.push(performance.now() - t0)
        o.onAnswer?.(id, text)
      })
      .catch(() => {
        errors++
        statuses.network = (statuses.network ?? 0) + 1
      })
      .finally(() => pending.delete(p))
    pending.add(p)
  }

  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now()
      const due = Math.min(total, Math.floor(((now - start) * o.rate) / 1000))
      if (due > sent) maxLag = Math.max(maxLag, now - (start + (sent * 1000) / o.rate))
      while (sent < due) {
        send()
        sent++
      }
      if (sent >= total) {
        clearInterval(timer)
        resolve()
      }
    }, 1)
  })
  const seconds = (performance.now() - start) / 1000
  await Promise.all(pending)
  return { sent, errors, statuses, latencies, maxScheduleLagMs: maxLag, achievedRate: sent / seconds }
}
