/**
 * Where the ingest → delivered time goes, from closeloop's own trace (`GET /v1/events/:id`) for a sample of
 * events: the raw input's `receivedAt` and the first attempt's `startedAt` split the end-to-end latency into
 *
 *   inbound  client send → server handler runs      (client, loopback, server event-loop queueing)
 *   commit+queue  handler → destination send starts (validate, pipeline, durable commit, delivery lane queue)
 *   outbound  send starts → receiver arrival         (postback rendering, undici, loopback, receiver)
 *
 * Server times are epoch milliseconds (Date.now, 1 ms resolution), so segments are good to ±1 ms: enough to
 * see which one dominates, not for sub-millisecond accounting.
 */
import { performance } from 'node:perf_hooks'
import { API_KEY } from './closeloop.ts'
import type { Target } from './load.ts'
import { round, summarize } from './stats.ts'

export interface Sample {
  /** closeloop's event id from the ingest answer. */
  eventId: string
  /** performance.now() at client send and at receiver arrival. */
  sentAt: number
  arrivedAt: number
}

interface TraceShape {
  raw?: { receivedAt: number }
  deliveries: Array<{ attemptLog: Array<{ n: number; startedAt: number }> }>
}

export interface Breakdown {
  samples: number
  inboundMs: { p50: number; p99: number }
  commitQueueMs: { p50: number; p99: number }
  outboundMs: { p50: number; p99: number }
}

/** Fetch traces (a few at a time: this runs after the measured window) and summarise the three segments. */
export async function breakdown(t: Target, samples: Sample[]): Promise<Breakdown> {
  const epoch = (perfNow: number) => performance.timeOrigin + perfNow
  const inbound: number[] = []
  const commitQueue: number[] = []
  const outbound: number[] = []
  // 8 at a time: fast enough for a few hundred traces, light enough not to disturb the server
  const queue = [...samples]
  const worker = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      const res = await t.pool.request({
        method: 'GET',
        path: `/v1/events/${encodeURIComponent(s.eventId)}`,
        headers: { authorization: `Bearer ${API_KEY}` },
      })
      if (res.statusCode !== 200) {
        await res.body.dump()
        continue
      }
      const trace = (await res.body.json()) as TraceShape
      const received = trace.raw?.receivedAt
      const first = trace.deliveries[0]?.attemptLog.find((a) => a.n === 1)
      if (received === undefined || !first) continue
      inbound.push(received - epoch(s.sentAt))
      commitQueue.push(first.startedAt - received)
      outbound.push(epoch(s.arrivedAt) - first.startedAt)
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  const pick = (v: number[]) => {
    const x = summarize(v)
    return { p50: round(x.p50, 1), p99: round(x.p99, 1) }
  }
  return {
    samples: inbound.length,
    inboundMs: pick(inbound),
    commitQueueMs: pick(commitQueue),
    outboundMs: pick(outbound),
  }
}
