/**
 * Signals, deliveries and attempts: what the pipeline derives from events and what the delivery engine
 * works through. These are plain data; the store persists them, destinations read them.
 */
import type { EcapiEvent } from './ecapi.ts'
import type { ConsentAudience, ConsentDecision } from './identity.ts'

/**
 * A conversion signal derived by the rules stage, e.g. `call_connected`, `qualified_call`,
 * `disposition:Sale`, `closed_outcome`, or (for plain ECAPI ingest) the event's `event_type`.
 */
export interface Signal {
  /** Stable id derived from the causing event's dedup key and the signal name: the idempotency key. */
  id: string
  name: string
  /** Canonical event row that produced this signal. */
  eventId: string
  dataSetId: string
  /** When the conversion happened, Unix epoch seconds. */
  occurredAt: number
  value?: number
  currency?: string
  /** Snapshot of the canonical (enriched) event the signal speaks for. */
  event: EcapiEvent
  /** What the person behind the signal consented to; destinations send PII only where it allows. */
  consent: ConsentDecision
  /**
   * The decision per kind of destination, with its reasons (GPP sections, flags, default). The engine hands
   * each destination its own as `consent`; `withhold` means that destination gets nothing.
   */
  consentFor?: Record<ConsentAudience, ConsentDecision & { withhold?: boolean; reasons?: string[] }>
  /** Free-form, rule-specific facts: disposition, attribution, the signal a correction restates… */
  attrs: Record<string, unknown>
  /** Ids of the inputs (raw input ids) that caused the signal, for the trace. */
  causes: string[]
  createdAt: number
}

export type DeliveryStatus = 'pending' | 'in_flight' | 'delivered' | 'dead' | 'skipped'

export interface Delivery {
  id: string
  signalId: string
  destination: string
  status: DeliveryStatus
  /** Attempts that counted against the retry schedule (throttling does not count). */
  attempts: number
  /** Epoch ms when the delivery is next due. */
  dueAt: number
  /** Stable across retries and re-sends; what the destination deduplicates on. */
  idempotencyKey: string
  lastError?: string
  /** What the delivered payload carried to match on (`Outcome.matchKeys`); absent before delivery. */
  matchKeys?: string[]
  createdAt: number
  updatedAt: number
}

/** One HTTP exchange with a destination, as recorded in the attempt log. Secrets are redacted. */
export interface Exchange {
  method: string
  url: string
  headers: Record<string, string>
  body?: string
  status?: number
  response?: string
  latencyMs: number
  error?: string
}

/** `skipped`: not sent on purpose (consent withheld for this destination); final, not a failure. */
export type OutcomeKind = 'delivered' | 'retry' | 'throttled' | 'permanent' | 'paused' | 'skipped'

/** The result of one attempt for one delivery. */
export interface Outcome {
  kind: OutcomeKind
  exchange?: Exchange
  /** A stable, destination-level error code (e.g. `HTTP_500`, `META_100`, `TOO_RECENT_CLICK`). */
  code?: string
  message?: string
  /** Delay the destination asks for (e.g. Retry-After); the engine clamps it. */
  retryAfterMs?: number
  /** A fixed delay that replaces backoff (e.g. Google's 6 h TOO_RECENT retries). */
  fixedDelayMs?: number
  /**
   * The identifiers this job's payload gave the platform to match the conversion to a click or a person, by
   * the platform's own field names (Meta `fbc`, `em`…; Google `gclid`, `email`…), sorted and unique: the
   * numerator of the match rate (docs/observability.md). `[]` when the payload carried none; absent for a
   * destination that matches nothing (a webhook, the log).
   */
  matchKeys?: string[]
}

export interface Attempt {
  id: string
  deliveryId: string
  n: number
  startedAt: number
  outcome: OutcomeKind
  code?: string
  message?: string
  exchange?: Exchange
}
