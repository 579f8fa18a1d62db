/**
 * Shared fixtures for the ecapi tests: a signal shaped like the pipeline produces it.
 * (A `.test.ts` file so it stays out of the shipped code; it holds no tests of its own.)
 */
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { Signal } from '../../model/signal.ts'
import type { DestinationJob } from '../contract.ts'
import { type SignalOverrides, testContext, testJob, testSignal } from '../testing/signals.ts'

/** 2026-05-06T19:07:44Z, the spec's example timestamp shifted a year: literal expectations stay readable. */
export const T0 = 1_778_094_464

export type { SignalOverrides }

/**
 * A connected call after a click, with raw PII from a CRM form, fully consented.
 *
 * @example signal({ name: 'disposition:Sale', value: 120, currency: 'usd' })
 */
export function signal(o: SignalOverrides = {}): Signal {
  const base: EcapiEvent = {
    data_set_id: 'acme',
    id: 'evt-1',
    timestamp: T0,
    event_type: 'contact',
    user_data: {
      email_address: ' User@example.com ',
      phone_numbers: '+1 212-555-0000',
      customer_identifier: 'User123',
      gender: ' Female ',
      address: {
        first_name: ' Jane ',
        last_name: ' Smith ',
        city: 'New York',
        state: 'NY',
        country_code: 'US',
        postal_code: '10001-1234',
      },
      event_ip_address: '203.0.113.7',
      event_user_agent: 'Mozilla/5.0',
      gpp_string: 'DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA',
      gpp_sid: [2],
    },
    ext: {
      call: { call_id: 'CA1', caller: '(646) 555-0199', campaign: 'mortgage-ny', duration_s: 200 },
      click_ids: { gclid: 'Cj0-gclid', ttclid: 'E.C.P.tt', fbclid: 'IwAR-fb', msclkid: 'ms-1' },
    },
  }
  return testSignal(base, o)
}

export const job = (s: Signal): DestinationJob => testJob(s, 'partner')

export const context = testContext
