/** What route handlers may use; app.ts builds it. */
import type { Logger } from 'pino'
import type { ResolvedConfig } from '../config/load.ts'
import type { Engine } from '../delivery/engine.ts'
import type { Metrics } from '../observe/metrics.ts'
import type { MatchRateReport } from '../observe/report.ts'
import type { CallRules } from '../pipeline/calls/index.ts'
import type { PipelineConfig } from '../pipeline/ecapi.ts'
import type { IngestItem, IngestRequest, IngestResult, RawInput, Store } from '../store/types.ts'

export interface HttpDeps {
  config: ResolvedConfig
  store: Store
  engine: Engine
  metrics: Metrics
  log: Logger
  pipeline: PipelineConfig
  callRules: CallRules
  apiKeys: string[]
  /** Commit raw input + items in one (group) transaction, then hand new deliveries to the engine. */
  ingest(raw: RawInput, items: IngestItem[], result?: IngestRequest['result']): Promise<IngestResult>
  /**
   * Store a raw input that was refused before any event was read (auth, parse, limits). `from` is the sender's
   * address: refusals before authentication are stored within a budget per address (address-budget.ts).
   */
  recordRefusal(raw: RawInput, from: string): Promise<void>
  /** The match rate at `now`, its settled hours kept between calls (observe/tally-cache.ts). */
  matchRate(now: number): Promise<MatchRateReport>
  /** False while the store is unreachable: ingest answers 503 instead of risking an unacknowledged loss. */
  ready(): boolean
}
