/**
 * One open-loop latency measurement at a fixed rate: warm-up, a measured window, the drain, then delivered
 * latency (receiver arrival − client send, one clock), ingest response time, server CPU per event and the
 * p50 split from closeloop's own trace. Shared by every "→ delivered" scenario (ECAPI on SQLite and
 * PostgreSQL, Twilio callbacks), so they report the same columns computed the same way.
 */
import { performance } from 'node:perf_hooks'
import type { Row } from '../scenarios/types.ts'
import { breakdown, type Sample } from './breakdown.ts'
import type { ServerChild } from './children.ts'
import { type OpenLoopOptions, openLoop, type Target } from './load.ts'
import type { Receiver } from './receiver.ts'
import { round, type Summary, summarize } from './stats.ts'

/** Deliveries still missing after this long count as lost for the report (the first retry is at 5 s). */
export const DRAIN_TIMEOUT_MS = 10_000
/** Events traced per second of load for the latency breakdown: ~1,000 per window, a few seconds to fetch. */
const TRACED_PER_S = 100

export const LATENCY_COLUMNS = {
  sent: 'sent',
  p50: 'deliv p50 ms',
  p90: 'deliv p90 ms',
  p99: 'deliv p99 ms',
  max: 'deliv max ms',
  ip50: 'ingest p50 ms',
  ip99: 'ingest p99 ms',
  lost: 'undelivered (10 s)',
  cpu: 'server cpu %',
  cpuMs: 'cpu ms/event',
  split: 'p50 in / commit+queue / out ms',
}

export interface LatencyOptions {
  t: Target
  rx: Receiver
  server: ServerChild
  rate: number
  path: string
  warmupMs: number
  durationMs: number
  next: OpenLoopOptions['next']
  /** closeloop's event id from a 2xx answer body, for the trace split; omit to skip the split. */
  eventIdOf?: (answer: string) => string | undefined
  log(line: string): void
}

export interface LatencyResult {
  row: Row
  data: Record<string, unknown>
  delivered: Summary
  ingest: Summary
}

export async function measureLatency(o: LatencyOptions): Promise<LatencyResult> {
  const { t, rx, rate } = o
  o.log(`  ${rate}/s: warm-up ${o.warmupMs} ms`)
  const warmIds: string[] = []
  await openLoop(t, {
    path: o.path,
    rate,
    durationMs: o.warmupMs,
    next: o.next,
    onSend: (id) => warmIds.push(id),
  })
  await rx.waitFor(warmIds, DRAIN_TIMEOUT_MS)

  const sentAt = new Map<string, number>()
  const traced = new Map<string, string>() // bench id → closeloop event id
  const every = Math.max(1, Math.round(rate / TRACED_PER_S))
  const cpu0 = o.server.cpuSeconds()
  const t0 = performance.now()
  const res = await openLoop(t, {
    path: o.path,
    rate,
    durationMs: o.durationMs,
    next: o.next,
    onSend: (id, at) => {
      if (o.eventIdOf && sentAt.size % every === 0) traced.set(id, '')
      sentAt.set(id, at)
    },
    onAnswer: o.eventIdOf
      ? (id, body) => {
          if (traced.has(id)) traced.set(id, o.eventIdOf?.(body) ?? '')
        }
      : undefined,
  })
  const missing = await rx.waitFor(sentAt.keys(), DRAIN_TIMEOUT_MS)
  // CPU over the window and its drain: every event's ingest and delivery, nothing else
  const cpu1 = o.server.cpuSeconds()
  const elapsedS = (performance.now() - t0) / 1000
  const serverCpu = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined
  const deliveredMs: number[] = []
  for (const [id, at] of sentAt) {
    const arrived = rx.arrivals.get(id)
    if (arrived !== undefined) deliveredMs.push(arrived - at)
  }
  const d = summarize(deliveredMs)
  const ingest = summarize(res.latencies)
  const samples: Sample[] = []
  for (const [id, eventId] of traced) {
    const arrivedAt = rx.arrivals.get(id)
    const sent = sentAt.get(id)
    if (arrivedAt !== undefined && sent !== undefined && eventId)
      samples.push({ eventId, sentAt: sent, arrivedAt })
  }
  const split = samples.length ? await breakdown(t, samples) : undefined
  const cpuPct = serverCpu === undefined ? '' : round((serverCpu / elapsedS) * 100, 0)
  const cpuMsPerEvent = serverCpu === undefined ? '' : round((serverCpu * 1000) / res.sent, 3)
  const splitText = split
    ? `${split.inboundMs.p50} / ${split.commitQueueMs.p50} / ${split.outboundMs.p50}`
    : 'n/a'
  o.log(
    `  ${rate}/s: delivered p50 ${round(d.p50)} p99 ${round(d.p99)} max ${round(d.max)} ms; ` +
      `ingest p99 ${round(ingest.p99)} ms; missing ${missing}; errors ${res.errors} ${JSON.stringify(res.statuses)}; ` +
      `p50 split ${splitText} ms`,
  )
  return {
    delivered: d,
    ingest,
    row: {
      label: `${rate} /s`,
      cells: {
        sent: res.sent,
        p50: round(d.p50),
        p90: round(d.p90),
        p99: round(d.p99),
        max: round(d.max),
        ip50: round(ingest.p50),
        ip99: round(ingest.p99),
        lost: missing + res.errors,
        cpu: cpuPct,
        cpuMs: cpuMsPerEvent,
        split: splitText,
      },
    },
    data: {
      rate,
      achievedRate: round(res.achievedRate),
      sent: res.sent,
      errors: res.errors,
      statuses: res.statuses,
      undelivered: missing,
      maxScheduleLagMs: round(res.maxScheduleLagMs),
      deliveredMs: roundSummary(d),
      ingestMs: roundSummary(ingest),
      serverCpuPct: cpuPct,
      serverCpuMsPerEvent: cpuMsPerEvent,
      breakdown: split,
    },
  }
}

export function roundSummary(s: Summary) {
  return {
    count: s.count,
    p50: round(s.p50),
    p90: round(s.p90),
    p99: round(s.p99),
    max: round(s.max),
    mean: round(s.mean),
  }
}
