/**
 * What an inbound source is: a small adapter that authenticates a request and maps it into canonical
 * ECAPI events (call data under `ext.call`). Pure apart from reading the request; the HTTP layer stores the
 * raw input, the pipeline does the rest. A source folder exports one `SourceDefinition`; adding one is a
 * line in `registry.ts`.
 *
 * Errors are thrown as `AppError`s from `src/model/errors.ts`: `E_SOURCE_SIGNATURE` (401) for a bad
 * signature, `E_AUTH_MISSING` / `E_AUTH_INVALID` (401) for tokens, `E_SOURCE_IP` (403) for the allowlist,
 * `E_INPUT_INVALID` (400) with field paths for unreadable payloads.
 */
import type { Static, TObject } from '@sinclair/typebox'
import type { EcapiEvent } from '../model/ecapi.ts'

/** Which path a source answers on: `/v1/sources/:name/<route>`. */
export type SourceRoute = 'twilio' | 'webhook' | 'postback'

export interface SourceRequest {
  method: 'GET' | 'POST'
  /** Path and query as received, e.g. `/v1/sources/tw/twilio?x=1`. */
  url: string
  /** The public URL the sender used (reconstructed from config or trusted X-Forwarded-* headers). */
  publicUrl: string
  query: Record<string, string>
  headers: Record<string, string | undefined>
  /** Body exactly as received ('' for GET). */
  rawBody: string
  /** JSON value or form fields (object of strings); undefined when empty. */
  body: unknown
  remoteIp: string
  /** Receive time, epoch ms. */
  now: number
}

export interface CommonSourceConfig {
  type: string
  enabled?: boolean
  data_set_id?: string
  default_region?: string
  allow_ips?: string[]
}

export interface SourceDefinition<S extends TObject = TObject> {
  type: string
  route: SourceRoute
  configSchema: S
  /** Config fields holding secrets: redacted from logs and stored headers. */
  secrets?: string[]
  /** Authenticate and map. Returns one or more canonical events (a transfer may yield two). */
  read(req: SourceRequest, config: Static<S> & CommonSourceConfig, name: string): EcapiEvent[]
}
