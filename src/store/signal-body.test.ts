import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { signalConsent } from '../identity/consent.ts'
import type { EcapiEvent } from '../model/ecapi.ts'
import type { Signal } from '../model/signal.ts'
import { makeSignal } from '../pipeline/signal.ts'
import { signalFromStored, storedSignal } from './signal-body.ts'

function signalFor(event: EcapiEvent): Signal {
  return makeSignal({
    basis: `ecapi:${event.data_set_id}:${event.id}`,
    name: 'contact',
    eventId: 'evt_1',
    event,
    ...signalConsent(event, 'granted'),
    causes: ['raw_1'],
    now: 1764979200_000,
  })
}

const plain = { data_set_id: 'ds', id: 'e1', timestamp: 1764979200, event_type: 'contact' } as EcapiEvent

describe('stored signal bodies', () => {
  it('fold three identical audiences into one, and unfold them on reading', () => {
    const s = signalFor(plain)
    const stored = storedSignal(s)
    assert.deepEqual(Object.keys(stored.consentFor ?? {}), ['*'])
    // two of the three audiences are gone: ~40 % of this body
    assert.ok(JSON.stringify(stored).length < JSON.stringify(s).length * 0.7)
    const back = signalFromStored(JSON.parse(JSON.stringify(stored)))
    assert.deepEqual(back, s)
    // the same JSON, key order included: traces and exports look as before
    assert.equal(JSON.stringify(back), JSON.stringify(s))
    assert.deepEqual(s.consentFor, signalFor(plain).consentFor, 'the signal itself is not changed')
  })

  it('keep audiences that differ as they are', () => {
    const s = signalFor(plain)
    const cf = structuredClone(s.consentFor)
    if (!cf) throw new Error('no consentFor')
    cf.meta.reasons = [...(cf.meta.reasons ?? []), 'mmt_only: measurement only']
    const differing = { ...s, consentFor: cf }
    assert.equal(storedSignal(differing), differing)
    const flags = structuredClone(s.consentFor)
    if (!flags) throw new Error('no consentFor')
    flags.partner.pii = false
    assert.equal(storedSignal({ ...s, consentFor: flags }).consentFor, flags)
    const reordered = structuredClone(s.consentFor)
    if (!reordered) throw new Error('no consentFor')
    reordered.google.reasons = [...(reordered.google.reasons ?? [])].reverse()
    assert.equal(storedSignal({ ...s, consentFor: reordered }).consentFor, reordered)
  })

  it('read bodies stored whole (before folding) and signals without consentFor unchanged', () => {
    const s = signalFor(plain)
    assert.deepEqual(signalFromStored(JSON.parse(JSON.stringify(s))), s)
    const { consentFor: _, ...bare } = s
    assert.equal(storedSignal(bare), bare)
    assert.equal(signalFromStored(bare), bare)
  })
})
