/**
 * The `Store`: everything closeloop persists, behind one narrow interface with two implementations
 * (SQLite, the embedded default, and PostgreSQL for scale-out) and one contract test suite.
 *
 * The pipeline stays pure: an ingest item carries a `derive` function that the store runs *inside* the
 * transaction with the state it read (call journey, facts), so read-modify-write is atomic on both stores
 * without the pipeline knowing how.
 */
import type { EcapiEvent } from '../model/ecapi.ts'
import type { Attempt, Delivery, Signal } from '../model/signal.ts'

export interface RawInput {
  id: string
  /** `ecapi`, a source name, `clicks`… */
  source: string
  kind: string
  receivedAt: number
  contentType?: string
  /** Request headers with secrets removed. */
  headers: Record<string, string>
  /** Body (or query string) exactly as received, cut at the body limit. */
  body: string
  /** HTTP status answered. */
  status?: number
  /** The per-event report answered, or the error. */
  result?: unknown
}

export interface JourneyState {
  key: string
  state: Record<string, unknown>
  /** Other keys this journey can be found by (caller phone, order id…). */
  aliases?: string[]
}

/** The names a journey may be stored under, in the order they are tried. */
export interface JourneyRef {
  key?: string
  aliases?: string[]
  /**
   * Names an earlier version wrote (unscoped by data set; pipeline/names.ts), tried only when `key` and
   * `aliases` find nothing: a call in flight across an upgrade keeps its journey.
   */
  legacy?: { key?: string; aliases?: string[] }
}

export interface SignalDraft {
  signal: Signal
  /** Destinations the router chose for it. */
  destinations: string[]
}

export interface TimerDraft {
  /** Unique per purpose, e.g. `qualify:call:acme:CA123`: re-arming replaces it. */
  key: string
  kind: string
  dueAt: number
  payload: Record<string, unknown>
}

export interface Derived {
  journey?: JourneyState
  /** Facts to write: value with a TTL, or null to delete. */
  facts?: Record<string, { value: unknown; ttlMs: number } | null>
  signals: SignalDraft[]
  timers?: TimerDraft[]
  cancelTimers?: string[]
  /** Why an input produced no conversion (repeat_caller, spam, service…): counted by the caller. */
  holdbacks?: string[]
  /** How a call was first attributed (dni, phone, click_id, none): counted by the caller. */
  attribution?: string
}

export interface DeriveContext {
  /** The canonical event row being ingested (or, for a timer, the event that armed it). */
  eventId: string
  /** The raw input that carried it, for the signal's causes. */
  rawId: string
  journey?: JourneyState
  facts: Record<string, unknown>
  now: number
}

export interface IngestItem {
  event: EcapiEvent
  /** `ecapi:<data_set_id>:<id>` or `call:<call_id>:<type>:<bucket>`; undefined = never a duplicate. */
  dedupKey?: string
  /** Journey to load: by key, else by the first alias that resolves, else by `legacy` the same way. */
  journey?: JourneyRef
  /** Fact keys to load for `derive`. */
  facts?: string[]
  derive(ctx: DeriveContext): Derived
}

export interface IngestRequest {
  raw: RawInput
  items: IngestItem[]
  /** Deliveries to these destinations are leased to `lease.token` at insert: the hot path sends without a claim. */
  lease?: { token: string; untilMs: number; destinations: ReadonlySet<string> }
  /** Builds the raw input's stored result from the outcomes (accepted / duplicate per item). */
  result?(outcomes: ItemOutcome[]): unknown
}

export interface ItemOutcome {
  status: 'accepted' | 'duplicate'
  eventId: string
  duplicateOf?: string
  signals: Array<{ id: string; name: string }>
}

export interface IngestResult {
  outcomes: ItemOutcome[]
  /** Deliveries created and leased to the caller, with their signals. */
  leased: LeasedJob[]
  /** Destinations that received new (unleased) pending deliveries. */
  pendingDestinations: string[]
  /** Holdback reasons `derive` reported (repeat_caller, spam…), for the metrics. */
  holdbacks?: string[]
}

/**
 * A lease on one delivery. Tokens are unique per claim (not per node): if a node's own sweep re-claims a job
 * whose lease ran out while the node still held it in memory, the old copy's token no longer matches, so
 * only one of the two can renew, record or be sent.
 */
export interface LeaseRef {
  deliveryId: string
  token: string
}

export interface LeasedJob {
  delivery: Delivery
  signal: Signal
  leaseToken: string
  leaseUntil: number
}

export interface AttemptRecord {
  deliveryId: string
  leaseToken: string
  attempt: Omit<Attempt, 'id'>
  /** The delivery's next state, decided by the engine. */
  next: {
    status: 'delivered' | 'pending' | 'dead' | 'skipped'
    dueAt: number
    attempts: number
    lastError?: string
    /** With `delivered`: the keys the payload carried to match on (`Outcome.matchKeys`), kept on the delivery. */
    matchKeys?: string[]
  }
}

export interface TimerJob {
  id: string
  key: string
  kind: string
  dueAt: number
  payload: Record<string, unknown>
  leaseToken: string
}

export interface Trace {
  event: {
    id: string
    status: string
    dedupKey?: string
    duplicateOf?: string
    createdAt: number
    event: EcapiEvent
  }
  raw?: RawInput
  signals: Signal[]
  deliveries: Array<Delivery & { attemptLog: Attempt[] }>
}

export interface DeliveryQuery {
  status?: Delivery['status']
  destination?: string
  limit: number
  /** Pagination cursor: ids after this one. */
  after?: string
}

/** Counters of the store's group-commit writer. */
export interface StoreWrites {
  /** Transactions committed, and the operations (one per request's write) they carried together. */
  transactions: number
  operations: number
  /**
   * SQLite's WAL checkpoints, by where they ran: on their own thread, or (the fallback when that thread
   * fails) on the writer's connection, which stalls the event loop while it copies; and how long commits
   * waited for them in all.
   */
  checkpoints?: { thread: number; writer: number; waitMs: number }
}

/**
 * Rows by table (deliveries by status). `approximate` names the figures a large PostgreSQL table gave as
 * the planner's estimate instead of a count (`events`, `signals`, `deliveries.delivered`); absent when every
 * figure is exact.
 */
export interface StoreCounts {
  deliveries: Record<string, number>
  events: number
  signals: number
  approximate?: string[]
}

/**
 * One group of the delivery report: the deliveries created (ingested) in one bucket of time (an hour unless
 * asked otherwise), by the campaign of their signal (`ext.call.campaign`; null without one), destination,
 * signal name, currency and status.
 */
export interface DeliveryTally {
  /** Epoch ms of the bucket's start. */
  hour: number
  campaign: string | null
  destination: string
  signal: string
  currency: string | null
  status: Delivery['status']
  deliveries: number
  /** Delivered with match keys recorded (the destination reports them): the match rate's denominator. */
  reported: number
  /** …of which the payload carried at least one key: the numerator. */
  matched: number
  /** Sum of the signals' values. */
  value: number
}

/** Events ingested in one bucket of time, by source (the raw input's), campaign and result. */
export interface EventTally {
  hour: number
  source: string
  campaign: string | null
  status: 'accepted' | 'duplicate'
  events: number
}

/** Signals derived in one bucket of time, by campaign, name and currency. */
export interface SignalTally {
  hour: number
  campaign: string | null
  signal: string
  currency: string | null
  signals: number
  value: number
  /** …of which no route sent anywhere (no delivery), and their value. */
  unrouted: number
  unroutedValue: number
}

/**
 * Buckets of `ms` from `startMs` on: hours since the epoch by default; a report in a time zone asks for its
 * days (a zone's midnight is not UTC's, and DST makes some days 23 or 25 hours long).
 */
export interface TallyBuckets {
  ms: number
  startMs: number
}

/** A time range, epoch ms, `from` included, `to` excluded. */
export interface TimeRange {
  fromMs: number
  toMs: number
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres'
  migrate(): Promise<void>
  /** Migrations this build has that the database has not applied, oldest first (`3 privacy`…). */
  pendingMigrations(): Promise<string[]>
  /** One transaction: raw input, events (dedup), journeys, facts, signals, deliveries, timers. */
  ingest(req: IngestRequest, now: number): Promise<IngestResult>
  /** Store a raw input on its own (a request rejected before any event was read). */
  recordRaw(raw: RawInput): Promise<void>
  /** Lease due pending deliveries and expired leases of these destinations. */
  claimDeliveries(opts: {
    token: string
    now: number
    leaseMs: number
    limit: number
    destinations: readonly string[]
  }): Promise<LeasedJob[]>
  /** Attempts and next states; rows whose lease token no longer matches are left untouched. */
  recordAttempts(records: AttemptRecord[], now: number): Promise<void>
  /**
   * Extend leases we still hold (in flight under our token) to `untilMs`; returns the ids extended. A job
   * that waited in memory longer than its lease is renewed before it is sent instead of being dropped and
   * re-claimed; an id missing from the answer was taken by another node and must not be sent.
   */
  renewLeases(leases: LeaseRef[], untilMs: number, now: number): Promise<string[]>
  /**
   * Up to `want` tokens from `destination`'s `rate_per_s` bucket (a burst of one second, refilled at
   * `ratePerS`), shared by every node on the store; 0 when it is empty.
   */
  takeRateTokens(destination: string, ratePerS: number, want: number): Promise<number>
  /** Give leased deliveries back (graceful shutdown, destination paused); only leases still held. */
  releaseLeases(leases: LeaseRef[], now: number): Promise<void>
  /** Lease due timers; `fire` derives signals inside the transaction that deletes the timer. */
  fireTimers(opts: {
    token: string
    now: number
    limit: number
    fire(timer: TimerJob, ctx: DeriveContext): Derived
    journeyKey(timer: TimerJob): string | undefined
    lease?: IngestRequest['lease']
  }): Promise<{ fired: number; leased: LeasedJob[]; pendingDestinations: string[] }>
  /**
   * Read-modify-write of a few facts in one transaction (a DNI pool): `update` sees their current values
   * (expired ones absent) and returns what to write (null deletes) and a result for the caller.
   */
  updateFacts<T>(
    keys: string[],
    update: (facts: Record<string, unknown>) => {
      writes: Record<string, { value: unknown; ttlMs: number } | null>
      result: T
    },
    now: number,
  ): Promise<T>
  /**
   * Epoch ms of the earliest pending due time or lease expiry among these destinations' deliveries, or of
   * the earliest timer, for sleeping the sweep: a node wakes only for work it can send.
   */
  nextDue(destinations: readonly string[]): Promise<number | undefined>
  trace(eventId: string): Promise<Trace | undefined>
  listDeliveries(q: DeliveryQuery): Promise<Delivery[]>
  /** Dead (or delivered) delivery → pending now, attempts kept; returns it, or undefined if unknown. */
  replay(deliveryId: string, now: number): Promise<Delivery | undefined>
  getDestinationState(name: string): Promise<Record<string, unknown> | undefined>
  setDestinationState(name: string, state: Record<string, unknown>, now: number): Promise<void>
  /**
   * Takes the half-open probe of a destination whose breaker this node opened at `openedAt`: true for the
   * one node that may send it, until `untilMs`, when another may take it over. False while another node
   * holds it, or when the shared state moved on (closed by another node's probe, or opened again later).
   * True when no state is stored (nothing to share).
   */
  takeProbe(destination: string, openedAt: number, untilMs: number, now: number): Promise<boolean>
  /** Counts for `GET /v1/stats` and the dashboard. */
  counts(): Promise<StoreCounts>
  /**
   * Deliveries created in `range`, grouped by hour or `buckets` (`DeliveryTally`): the match rate and the delivery side
   * of the reconciliation report. Reads the range of the time-ordered delivery ids, never the whole table.
   */
  deliveryTallies(range: TimeRange, buckets?: TallyBuckets): Promise<DeliveryTally[]>
  /**
   * Events and signals created in `range`, by hour or `buckets`: the intake side of the reconciliation report. Events
   * are read by their time-ordered ids; signals (whose ids follow the conversion's time, not the ingest's)
   * by scanning their table, so this is for reports, not for polling.
   */
  intakeTallies(
    range: TimeRange,
    buckets?: TallyBuckets,
  ): Promise<{ events: EventTally[]; signals: SignalTally[] }>
  /** What the store's writer has done since it opened, for /metrics. */
  writes(): StoreWrites
  ping(): Promise<void>
  /** Other nodes created work (LISTEN/NOTIFY on PostgreSQL); `[]` means "maybe missed something: sweep". */
  onWake?(cb: (destinations: string[]) => void): () => void
  close(): Promise<void>
  /**
   * Retention: raw PII (emails, phones, IPs, user agents) is scrubbed from rows received or created before
   * `cutoffMs`: JSON documents rewritten by the redactor (hashes kept), raw bodies redacted. Each row is
   * marked (`scrubbed_at`) so it is processed once; works in chunks of `chunk` rows, one short transaction
   * each, so a backlog never holds the writer for long. Writes a `retention` audit entry when it changed rows.
   */
  /** `region`: what national numbers are read as (`calls.default_region`), so each is hashed in E.164. */
  scrubExpired(
    cutoffMs: number,
    now: number,
    opts?: { chunk?: number; region?: string },
  ): Promise<TableCounts>
  /**
   * Subject deletion: every row that mentions the subject (raw in any format, or by one of its hashes) is
   * scrubbed, its values and hashes removed; journey aliases and facts keyed by its hashes are deleted.
   * Writes a `forget` audit entry and returns its id.
   */
  forgetSubject(req: ForgetRequest, now: number): Promise<{ deleted: TableCounts; auditId: string }>
  /** Audit entries, newest first; `before` is an id cursor. */
  listAudit(q: { limit: number; before?: string }): Promise<AuditEntry[]>
}

/** Rows scrubbed (retention) or erased/scrubbed (deletion) per table. */
export type TableCounts = Record<string, number>

export interface ForgetRequest {
  /** Raw values, found in every format they may be stored in (phones in E.164). */
  needles: { emails: string[]; phones: string[] }
  /** The subject's hashes (SHA-256 per platform normalization, `identityKey`s): found verbatim and removed. */
  hashes: string[]
  /** What the audit log names as the subject: a hash, never a raw value. */
  subject: string
  /** Who asked (the API key's name). */
  actor: string
  /** Region stored numbers without a country code are read in (`calls.default_region`; default US). */
  region?: string
}

export interface AuditEntry {
  id: string
  at: number
  /** `forget` (a subject deletion) or `retention` (a scheduled scrub that changed something). */
  action: 'forget' | 'retention'
  subject?: string
  counts: TableCounts
  actor: string
}
