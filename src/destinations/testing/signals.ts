/**
 * Test fixtures the destination tests share: a signal shaped like the pipeline produces it around a test's
 * own event (each destination's tests pick the PII and click ids they are about), the job that carries it,
 * and a quiet destination context.
 *
 * @example
 *   const signal = (o: SignalOverrides = {}) => testSignal({ ...myEvent, timestamp: T0 }, o)
 *   await destination.send([testJob(signal({ name: 'qualified_call' }), 'ga4')], testContext(http))
 */
import type { EcapiEvent } from '../../model/ecapi.ts'
import { type ConsentDecision, GRANTED } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import type { DestinationContext, DestinationJob } from '../contract.ts'
import type { HttpClient } from '../http.ts'

export interface SignalOverrides extends Partial<Omit<Signal, 'event' | 'consent'>> {
  event?: Partial<EcapiEvent>
  consent?: Partial<ConsentDecision>
}

/**
 * `sig-1`, a `call_connected` of `evt-1` in data set `acme`, occurred at the event's timestamp, fully
 * consented; then `defaults` (a fixture's own, e.g. a value), then the test's overrides. `o.event` is
 * merged over `event`, `o.consent` over GRANTED.
 *
 * @example testSignal(event, { name: 'disposition:Sale', consent: { pii: false } })
 */
export function testSignal(
  event: EcapiEvent,
  o: SignalOverrides = {},
  defaults: Partial<Signal> = {},
): Signal {
  const { event: eventOverrides, consent, ...rest } = o
  return {
    id: 'sig-1',
    name: 'call_connected',
    eventId: 'evt-1',
    dataSetId: 'acme',
    occurredAt: event.timestamp,
    ...defaults,
    attrs: {},
    causes: [],
    createdAt: event.timestamp * 1000,
    ...rest,
    event: { ...event, ...eventOverrides },
    consent: { ...GRANTED, ...consent },
  }
}

/**
 * The job the engine hands a destination for a signal: an in-flight first attempt, keyed by the signal id.
 *
 * @example testJob(signal(), 'tiktok').delivery.idempotencyKey // 'sig-1'
 */
export function testJob(s: Signal, destination: string): DestinationJob {
  return {
    signal: s,
    delivery: {
      id: `d-${s.id}`,
      signalId: s.id,
      destination,
      status: 'in_flight',
      attempts: 0,
      dueAt: 0,
      idempotencyKey: s.id,
      createdAt: 0,
      updatedAt: 0,
    },
  }
}

/** A log that drops everything. */
export const silentLog: DestinationContext['log'] = { info: () => {}, warn: () => {} }

/** A destination context on `http`, the real clock and a silent log. @example testContext(http, true).testMode // true */
export const testContext = (http: HttpClient, testMode = false): DestinationContext => ({
  http,
  testMode,
  now: Date.now,
  log: silentLog,
})
