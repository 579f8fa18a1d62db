import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { EcapiEvent } from '../model/ecapi.ts'
import { dedupKey } from './dedup.ts'

const T = 1_700_000_003
const call = (over: Partial<EcapiEvent> = {}, ext: Record<string, unknown> = {}): EcapiEvent => ({
  data_set_id: 'acme',
  timestamp: T,
  event_type: 'contact',
  source: 'phone_call',
  ...over,
  ext: { call: { call_id: 'CA1', status: 'answered', ...ext } },
})

describe('dedup keys', () => {
  test('an ECAPI id decides; a callback repeated within 5 s is one event, a later one another', () => {
    assert.equal(dedupKey({ ...call(), id: 'x' }), 'ecapi:acme:x')
    assert.equal(dedupKey(call()), 'call:acme:CA1:answered:340000000')
    // two businesses' platforms may number calls alike: one data set's callback is never the other's repeat
    assert.notEqual(dedupKey({ ...call(), data_set_id: 'other' }), dedupKey(call()))
    assert.notEqual(dedupKey({ ...call(), data_set_id: 'a:b' }), dedupKey({ ...call(), data_set_id: 'a' }))
    assert.match(String(dedupKey({ ...call(), data_set_id: 'a\ud800' })), /^call:a%EF%BF%BD:CA1:/)
    assert.equal(dedupKey(call({ timestamp: T + 1 })), dedupKey(call()))
    assert.notEqual(dedupKey(call({ timestamp: T + 5 })), dedupKey(call()))
  })

  test('an order or an amount joins the key: a second order or a corrected amount is not a repeat', () => {
    const order = (id: string, value: number) =>
      call(
        { event_type: 'close_convert_lead', value, currency_code: 'USD', properties: { transaction_id: id } },
        {
          status: undefined,
        },
      )
    assert.notEqual(dedupKey(order('POL-1', 1200)), dedupKey(order('POL-2', 900)))
    assert.equal(dedupKey(order('POL-1', 1200)), dedupKey(order('POL-1', 1200)), 'the same order resent')
    const sale = (value: number) =>
      call({ value, currency_code: 'USD' }, { status: undefined, disposition: 'Sale' })
    assert.notEqual(dedupKey(sale(100)), dedupKey(sale(150)))
    assert.notEqual(dedupKey(sale(100)), dedupKey({ ...sale(100), currency_code: 'EUR' }))
    const completed = (revenue: number) => call({}, { status: 'completed', revenue, duration_s: 185 })
    assert.notEqual(dedupKey(completed(45)), dedupKey(completed(60)))
    assert.match(String(dedupKey(completed(45))), /^call:acme:CA1:completed:340000000:[0-9a-f]{16}$/)
  })
})
