/**
 * What a destination is. A destination folder exports one `DestinationDefinition`; adding one touches
 * `registry.ts` by one line and nothing else.
 *
 * The engine hands a destination a batch of jobs (at most `batchSize`) and expects one `Outcome` per job,
 * in the same order. Payload builders are pure functions of the signal; `send` does the I/O.
 *
 * @example
 *   export const logDestination: DestinationDefinition<typeof LogConfig> = {
 *     type: 'log', configSchema: LogConfig, defaults: { batchSize: 1, concurrency: 1, timeoutMs: 1000 },
 *     create: (name, config) => ({ send: async (jobs) => jobs.map(() => ({ kind: 'delivered' })) }),
 *   }
 */
import type { Static, TObject } from '@sinclair/typebox'
import type { ConsentAudience } from '../model/identity.ts'
import type { Delivery, Outcome, Signal } from '../model/signal.ts'
import type { HttpClient } from './http.ts'

export interface DestinationJob {
  delivery: Delivery
  signal: Signal
}

export interface DestinationContext {
  /** Outbound HTTP with the SSRF guard, timeouts and secret redaction in the recorded exchange. */
  http: HttpClient
  /** Send in the platform's test mode (Meta test_event_code, Google validate_only…). */
  testMode: boolean
  now(): number
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void }
}

export interface Destination {
  /** Validation that fails a job returns a `permanent` outcome for it without sending it. */
  send(jobs: DestinationJob[], ctx: DestinationContext): Promise<Outcome[]>
  close?(): Promise<void>
}

export interface DestinationDefaults {
  /** Jobs per request. */
  batchSize: number
  /** Requests in flight at once. */
  concurrency: number
  /** Per-request timeout. */
  timeoutMs: number
}

export interface DestinationDefinition<S extends TObject = TObject> {
  type: string
  /** Type-specific settings; the common ones (enabled, allow_private, batch_size…) are added by config. */
  configSchema: S
  defaults: DestinationDefaults
  /** Field names in this config that are secrets: never printed, redacted from exchanges. */
  secrets?: string[]
  /** Checks the schema cannot express; each message starts with the field name (`secret: …`). */
  check?(config: Static<S> & CommonDestinationConfig): string[]
  /** Whose consent rules apply (TCF vendor, LDU): the engine hands the destination that decision. Default partner. */
  audience?: ConsentAudience
  create(name: string, config: Static<S> & CommonDestinationConfig): Destination
}

/** Settings every destination has, validated by the config module. */
export interface CommonDestinationConfig {
  type: string
  enabled?: boolean
  allow_private?: boolean
  base_url?: string
  batch_size?: number
  concurrency?: number
  timeout_ms?: number
  test_mode?: boolean
  /** Requests per second per node (token bucket). */
  rate_per_s?: number
}
