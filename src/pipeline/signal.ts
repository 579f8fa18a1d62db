/**
 * Building signals. A signal's id is a hash of what caused it and its name, so deriving the same signal
 * twice (a retried webhook, a replayed input) yields the same id: the store keeps one, and every
 * destination sees one idempotency key (Meta event_id, Google transaction_id, webhook-id).
 */
import { createHash } from 'node:crypto'
import type { EcapiEvent } from '../model/ecapi.ts'
import type { ConsentDecision } from '../model/identity.ts'
import type { Signal } from '../model/signal.ts'

export function signalId(basis: string, name: string): string {
  return `sig_${createHash('sha256').update(`${basis}|${name}`).digest('hex').slice(0, 32)}`
}

export interface SignalInput {
  basis: string
  name: string
  eventId: string
  event: EcapiEvent
  consent: ConsentDecision
  consentFor?: Signal['consentFor']
  occurredAt?: number
  value?: number
  currency?: string
  attrs?: Record<string, unknown>
  causes: string[]
  now: number
}

export function makeSignal(i: SignalInput): Signal {
  const value = i.value ?? i.event.value
  return {
    id: signalId(i.basis, i.name),
    name: i.name,
    eventId: i.eventId,
    dataSetId: i.event.data_set_id,
    occurredAt: i.occurredAt ?? i.event.timestamp,
    ...(value !== undefined
      ? { value, currency: (i.currency ?? i.event.currency_code ?? 'USD').toUpperCase() }
      : {}),
    event: i.event,
    consent: i.consent,
    ...(i.consentFor ? { consentFor: i.consentFor } : {}),
    attrs: i.attrs ?? {},
    causes: i.causes,
    createdAt: i.now,
  }
}

/** Foundation rule: an accepted ECAPI event yields one signal named after its event_type. */
export function ecapiSignalName(e: EcapiEvent): string {
  return e.event_type === 'custom' && e.custom_event ? `custom:${e.custom_event}` : e.event_type
}
