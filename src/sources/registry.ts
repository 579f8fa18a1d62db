/**
 * Every inbound source type (telephony webhooks, call-platform webhooks, postbacks) by its `type` in config.
 * Native ECAPI ingest (`POST /v1/events`) needs no source entry. Adding a source is one line here.
 */
import type { SourceDefinition } from './contract.ts'
import { checkPostbackConfig, postbackSource } from './postback/index.ts'
import { twilioSource } from './twilio/index.ts'
import { checkWebhookConfig, webhookSource } from './webhook/index.ts'

export type RegisteredSource = SourceDefinition & {
  /** Cross-field checks the schema cannot express; each message starts with the field name. */
  check?: (config: never) => string[]
}

export const SOURCES: Record<string, RegisteredSource> = {
  twilio: twilioSource as unknown as RegisteredSource,
  webhook: {
    ...(webhookSource as unknown as SourceDefinition),
    check: checkWebhookConfig,
  } as RegisteredSource,
  postback: {
    ...(postbackSource as unknown as SourceDefinition),
    check: checkPostbackConfig,
  } as RegisteredSource,
}
