/**
 * Signal fixtures for the Google destination tests: a call that connected after an ad click, with the
 * fields closeloop's pipeline puts on a signal. Override what a test is about.
 *
 * @example signal({ name: 'qualified_call', event: { ext: { click_ids: {} } } })
 */
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { Signal } from '../../model/signal.ts'
import type { DestinationJob } from '../contract.ts'
import { type SignalOverrides, silentLog, testJob, testSignal } from '../testing/signals.ts'

/** 2026-03-02T15:04:05Z: a fixed instant so expected date strings are literal. */
export const T0 = 1_772_463_845

export type { SignalOverrides }

export function signal(o: SignalOverrides = {}): Signal {
  const base: EcapiEvent = {
    data_set_id: 'acme',
    id: 'evt-1',
    timestamp: T0,
    event_type: 'contact',
    source: 'phone_call',
    user_data: { email_address: 'Jane.Doe@Gmail.com', phone_numbers: '(212) 555-0000' },
    ext: {
      call: { call_id: 'CA1', caller: '+12125550000', started_at: T0 - 30, answered_at: T0 },
      click_ids: { gclid: 'Cj0KCQiA-gclid', clicked_at: (T0 - 3600) * 1000 },
    },
  }
  return testSignal(base, o, { value: 25, currency: 'USD' })
}

export const job = (s: Signal, destination = 'google'): DestinationJob => testJob(s, destination)

/** Call-only: the caller's number, no click id. */
export const callOnly = (o: SignalOverrides = {}) =>
  signal({
    ...o,
    event: {
      user_data: {},
      ext: { call: { call_id: 'CA2', caller: '+12125550000', started_at: T0 - 30 } },
      ...o.event,
    },
  })

/** Lead-only: hashed PII from a form, no call, no click. */
export const leadOnly = (o: SignalOverrides = {}) =>
  signal({
    name: 'generate_lead',
    ...o,
    event: {
      source: 'website',
      event_type: 'generate_lead',
      user_data: { email_address: 'lead@example.com' },
      ext: {},
      ...o.event,
    },
  })

export { silentLog }
