/**
 * Conversions as a CRM reports them: an ECAPI `purchase` for a phone call (`source: phone_call`,
 * `ext.call.call_id`) with the buyer's raw PII. The call rules turn each into a `closed_outcome` signal, which
 * Meta maps to Purchase (`action_source: system_generated`) and Data Manager sends as an enhanced conversion
 * for leads (hashed email / phone / name + address). Every conversion is a new call, buyer and order.
 */
import { randomBytes } from 'node:crypto'
import { DATA_SET_ID } from './closeloop.ts'

const RUN = randomBytes(3).toString('hex')
let seq = 0

const FIRST = ['Jane', 'Luis', 'Amara', 'Chen', 'Olga', 'Mohammed', 'Siobhan', 'Kwame']
const LAST = ["O'Connor", 'García', 'Okafor', 'Li', 'Ivanova', 'Haddad', 'Murphy', 'Mensah']

/** The raw PII of buyer n: distinct email and phone (so no hash is ever computed twice), a real-looking address. */
export function buyer(n: number) {
  const first = FIRST[n % FIRST.length]
  const last = LAST[Math.floor(n / FIRST.length) % LAST.length]
  return {
    email_address: `${first}.${last.replace(/'/g, '')}+${RUN}${n}@Example.com`,
    phone_numbers: [`(212) ${200 + (n % 800)}-${String(Math.floor(n / 800) % 10_000).padStart(4, '0')}`],
    address: {
      first_name: first,
      last_name: last,
      city: 'St. Louis',
      state: 'MO',
      postal_code: '63101-1234',
      country_code: 'US',
    },
  }
}

export function conversionEvent() {
  const n = seq++
  const id = `${RUN}-cv-${n.toString(36)}`
  return {
    data_set_id: DATA_SET_ID,
    id,
    timestamp: Math.floor(Date.now() / 1000),
    event_type: 'purchase',
    source: 'phone_call',
    value: 120 + (n % 50),
    currency_code: 'USD',
    user_data: buyer(n),
    properties: { transaction_id: `ord-${id}` },
    ext: { call: { call_id: `CA${RUN}${n.toString(16).padStart(26, '0')}` } },
  }
}

/** `{ events: [...] }` with `size` conversions. */
export function conversionBatch(size: number): string {
  return JSON.stringify({ events: Array.from({ length: size }, conversionEvent) })
}
