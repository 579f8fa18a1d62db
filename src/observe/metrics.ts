/**
 * Prometheus metrics. One registry per app instance (tests run several apps in one process).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { StoreWrites } from '../store/types.ts'

/** `writes`: the store's writer counters, read at each scrape. */
export function createMetrics(opts: { writes?: () => StoreWrites } = {}) {
  const registry = new Registry()
  const writes = opts.writes
  if (writes) {
    /** A counter whose value the store keeps: read at each scrape. */
    const fromStore = (name: string, help: string, read: (w: StoreWrites) => number) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset()
          this.inc(read(writes()))
        },
      })
    fromStore(
      'closeloop_store_transactions_total',
      'Transactions the store committed (group commit: one carries the writes of many requests)',
      (w) => w.transactions,
    )
    fromStore(
      'closeloop_store_operations_total',
      "Writes (one per request or delivery batch) the store's transactions carried",
      (w) => w.operations,
    )
    fromStore(
      'closeloop_sqlite_checkpoint_wait_seconds_total',
      "Time commits waited for checkpoints: each one's last pass (the main file's sync), and fallbacks",
      (w) => (w.checkpoints?.waitMs ?? 0) / 1000,
    )
    new Counter({
      name: 'closeloop_sqlite_checkpoints_total',
      help: 'WAL checkpoints by where they ran: thread (normal) or writer (the fallback, which stalls the event loop)',
      labelNames: ['on'],
      registers: [registry],
      collect() {
        this.reset()
        const c = writes().checkpoints
        if (!c) return
        this.inc({ on: 'thread' }, c.thread)
        this.inc({ on: 'writer' }, c.writer)
      },
    })
  }
  const ingested = new Counter({
    name: 'closeloop_ingest_events_total',
    help: 'Events received, by source and result (accepted, duplicate, rejected)',
    labelNames: ['source', 'result'],
    registers: [registry],
  })
  const refusalsUnrecorded = new Counter({
    name: 'closeloop_refusals_unrecorded_total',
    help: 'Requests refused before authentication whose raw input was not stored: the sender was past its budget',
    registers: [registry],
  })
  const browserRateLimited = new Counter({
    name: 'closeloop_browser_rate_limited_total',
    help: 'Site-key requests (clicks, numbers) refused 429: their sender address was past attribution.browser_rate_limit',
    registers: [registry],
  })
  const signals = new Counter({
    name: 'closeloop_signals_total',
    help: 'Signals derived, by name',
    labelNames: ['signal'],
    registers: [registry],
  })
  const attempts = new Counter({
    name: 'closeloop_delivery_attempts_total',
    help: 'Delivery attempts, by destination and outcome (delivered, retry, throttled, permanent, paused)',
    labelNames: ['destination', 'outcome'],
    registers: [registry],
  })
  const deliveries = new Counter({
    name: 'closeloop_deliveries_total',
    help: 'Deliveries reaching a final state, by destination and status (delivered, dead)',
    labelNames: ['destination', 'status'],
    registers: [registry],
  })
  const leaseRenewals = new Counter({
    name: 'closeloop_lease_renewals_total',
    help: 'Leases renewed before a send because the job waited past its margin, by result (renewed, lost to another node)',
    labelNames: ['destination', 'result'],
    registers: [registry],
  })
  const latency = new Histogram({
    name: 'closeloop_ingest_to_delivered_seconds',
    help: 'From the ingest commit of a signal to the destination accepting it',
    labelNames: ['destination', 'signal'],
    // the call-connected budget is 10 ms of overhead; retried deliveries land in the long buckets
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300, 3600, 86400],
    registers: [registry],
  })
  const conversionAge = new Histogram({
    name: 'closeloop_conversion_age_at_delivery_seconds',
    help: "From the conversion's own time (the event's timestamp: the call answered, the sale made) to the destination accepting it: the platforms' budgets",
    labelNames: ['destination', 'signal'],
    // DESIGN's budgets: call connected < 60 s (Google) / 90 s (Meta), qualified call < 5 / 10 min, closed
    // outcomes within 7 days of the event (Meta) and 90 days of the click (Google)
    buckets: [1, 5, 15, 30, 60, 90, 300, 600, 3600, 21600, 86400, 604800, 7776000],
    registers: [registry],
  })
  const errors = new Counter({
    name: 'closeloop_delivery_errors_total',
    help: 'Attempts that did not deliver, by destination and stable code (HTTP_500, TIMEOUT, META_100, E_CONSENT_WITHHELD…)',
    labelNames: ['destination', 'code'],
    registers: [registry],
  })
  const requestLatency = new Histogram({
    name: 'closeloop_destination_request_seconds',
    help: 'Round trip of one request to a destination',
    labelNames: ['destination'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  })
  const breaker = new Gauge({
    name: 'closeloop_destination_available',
    help: '1 when the destination accepts sends (breaker closed, not paused), else 0',
    labelNames: ['destination'],
    registers: [registry],
  })
  const holdbacks = new Counter({
    name: 'closeloop_holdbacks_total',
    help: 'Calls or dispositions that produced no conversion, by reason (repeat_caller, spam, service, no_answer…)',
    labelNames: ['reason'],
    registers: [registry],
  })
  const clicks = new Counter({
    name: 'closeloop_clicks_total',
    help: 'Clicks captured, by result (accepted, duplicate, rejected)',
    labelNames: ['result'],
    registers: [registry],
  })
  const dni = new Counter({
    name: 'closeloop_dni_assignments_total',
    help: 'Tracking numbers handed out, by campaign and result (pooled; exhausted, limited, bot: the default number)',
    labelNames: ['campaign', 'result'],
    registers: [registry],
  })
  const attributions = new Counter({
    name: 'closeloop_call_attribution_total',
    help: 'Answered calls by how their click was found (dni, phone, click_id, none)',
    labelNames: ['method'],
    registers: [registry],
  })
  const matchRate = new Gauge({
    name: 'closeloop_match_rate',
    help: 'Share of delivered conversions whose payload carried a key the platform matches on, by campaign, destination and window (current, baseline)',
    labelNames: ['campaign', 'destination', 'window'],
    registers: [registry],
  })
  const matchRateAlert = new Gauge({
    name: 'closeloop_match_rate_alert',
    help: '1 while the current match rate is `observe.match_rate.drop` or more below the baseline, else 0',
    labelNames: ['campaign', 'destination'],
    registers: [registry],
  })
  return {
    registry,
    matchRate,
    matchRateAlert,
    ingested,
    refusalsUnrecorded,
    browserRateLimited,
    signals,
    attempts,
    deliveries,
    leaseRenewals,
    latency,
    conversionAge,
    errors,
    requestLatency,
    breaker,
    holdbacks,
    clicks,
    dni,
    attributions,
  }
}

export type Metrics = ReturnType<typeof createMetrics>
