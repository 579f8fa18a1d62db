/**
 * Shared test fixtures for the meta_capi tests: signals shaped like the pipeline produces them.
 * (A `.test.ts` file so it stays out of the shipped code; it holds no tests of its own.)
 */

import type { EcapiEvent } from '../../model/ecapi.ts'
import { type ConsentDecision, GRANTED } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import type { DestinationJob } from '../contract.ts'
import { testJob } from '../testing/signals.ts'

/** A fixed "now" for pure tests: 2026-05-06T12:00:00Z. */
export const NOW_MS = Date.UTC(2026, 4, 6, 12, 0, 0)
export const NOW_S = NOW_MS / 1000

export interface SignalOverrides {
  id?: string
  name?: string
  occurredAt?: number
  value?: number
  currency?: string
  consent?: Partial<ConsentDecision>
  event?: Partial<EcapiEvent>
}

/**
 * A call signal with the caller's phone, an email, an address and an fbclid, fully consented.
 *
 * @example
 *   makeSignal({ name: 'disposition:Sale', value: 120, currency: 'USD' })
 */
export function makeSignal(o: SignalOverrides = {}, nowS = NOW_S): Signal {
  const occurredAt = o.occurredAt ?? nowS - 120
  const event: EcapiEvent = {
    data_set_id: 'acme',
    id: 'evt-1',
    timestamp: occurredAt,
    event_type: 'contact',
    user_data: {
      email_address: 'Person@Example.com',
      address: {
        first_name: 'Jane',
        last_name: "O'Connor",
        city: 'St. Louis',
        state: 'Missouri',
        postal_code: '63101-1234',
        country_code: 'US',
      },
      event_ip_address: '203.0.113.7',
      event_user_agent: 'Mozilla/5.0',
    },
    ext: {
      call: { call_id: 'CA123', caller: '+15105550011', status: 'answered' },
      click_ids: { fbclid: 'IwAR2F-x_Yz', clicked_at: (nowS - 3600) * 1000 },
    },
    ...o.event,
  }
  return {
    id: o.id ?? 'sig-1',
    name: o.name ?? 'call_connected',
    eventId: 'evt-1',
    dataSetId: 'acme',
    occurredAt,
    value: o.value,
    currency: o.currency,
    event,
    consent: { ...GRANTED, ...o.consent },
    attrs: {},
    causes: ['raw-1'],
    createdAt: nowS * 1000,
  }
}

export const job = (signal: Signal): DestinationJob => testJob(signal, 'meta')
