import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { testSignal } from './testing/signals.ts'
import { publicSignal } from './view.ts'

const event = {
  data_set_id: 'acme',
  timestamp: 1_796_500_000,
  event_type: 'contact' as const,
  user_data: { email_address: 'jane@example.com', click_id: 'clk-1' },
  ext: { call: { call_id: 'CA1', caller: '+12125550000', campaign: 'c' } },
}

describe('the signal as webhooks and the log destination see it', () => {
  test('raw PII only with include_pii and consent: the caller goes with the emails', () => {
    const granted = testSignal(event, {})
    const denied = testSignal(event, { consent: { pii: false } })
    const callerOf = (v: ReturnType<typeof publicSignal>) => v.event.ext?.call?.caller
    assert.equal(callerOf(publicSignal(granted, true)), '+12125550000')
    assert.deepEqual(publicSignal(granted, true).event.user_data, event.user_data)
    for (const [s, include] of [
      [granted, false],
      [denied, true],
      [denied, false],
    ] as const) {
      const view = publicSignal(s, include)
      assert.equal(callerOf(view), undefined)
      assert.deepEqual(view.event.user_data, { click_id: 'clk-1' })
      assert.equal(view.event.ext?.call?.call_id, 'CA1')
    }
  })
})
