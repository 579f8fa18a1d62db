import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EcapiEvent } from '../model/ecapi.ts'
import { ecapiItem } from './ecapi.ts'
import { signalId } from './signal.ts'

const PIPELINE = { routes: [], activeDestinations: new Set<string>(), consentDefault: 'granted' as const }

function contact(id: string, timestamp: number): EcapiEvent {
  return { data_set_id: 'ds1', id, timestamp, event_type: 'contact' } as EcapiEvent
}

describe('signalId', () => {
  it('is a hash of cause and name, 32 hex digits, without a time', () => {
    const id = signalId('call:CA1', 'call_connected')
    assert.match(id, /^sig_[0-9a-f]{32}$/)
    assert.equal(signalId('call:CA1', 'call_connected'), id)
    assert.notEqual(signalId('call:CA1', 'qualified_call'), id)
    assert.notEqual(signalId('call:CA2', 'call_connected'), id)
  })

  it('leads with the time when given one, so ids sort by it', () => {
    const id = signalId('ecapi:ds1:evt-1', 'contact', 1764979200)
    assert.equal(id, 'sig_1mk6wg0d34f2fa267e6d7aec441c1677')
    assert.equal(id.length, signalId('x', 'y').length)
    // the hash part is the same cause's, shortened
    assert.equal(id.slice(11), signalId('ecapi:ds1:evt-1', 'contact').slice(4, 29))
    const times = [0, 1, 31, 32, 1764979199, 1764979200, 1764979201, 2 ** 35 - 1]
    const ids = times.map((t, i) => signalId(`ecapi:ds1:evt-${i}`, 'contact', t))
    assert.deepEqual([...ids].sort(), ids)
    assert.equal(signalId('a', 'b', 1764979200.9), signalId('a', 'b', 1764979200))
    assert.equal(signalId('a', 'b', -5), signalId('a', 'b', 0))
    // no usable time: the hash alone, never 'undefined' in an id
    assert.equal(signalId('a', 'b', Number.NaN), signalId('a', 'b'))
    assert.equal(signalId('a', 'b', Number.POSITIVE_INFINITY), signalId('a', 'b'))
  })
})

describe('ecapiItem signal ids', () => {
  const derive = (event: EcapiEvent, eventId: string, now: number) =>
    ecapiItem(event, PIPELINE).derive({ eventId, rawId: `raw_${eventId}`, now, facts: {} }).signals[0].signal

  it('derives the same id from the same event whenever and wherever it is derived', () => {
    const e = contact('evt-1', 1764979200)
    assert.equal(derive(e, 'evt_a', 1764979200_000).id, derive(e, 'evt_b', 1764990000_000).id)
  })

  it('orders the ids of live traffic by the events’ time', () => {
    const ids = [1764979200, 1764979201, 1764979260].map(
      (t, i) => derive(contact(`z-${9 - i}`, t), 'e', t * 1000).id,
    )
    assert.deepEqual([...ids].sort(), ids)
    assert.equal(new Set(ids).size, 3)
  })
})
