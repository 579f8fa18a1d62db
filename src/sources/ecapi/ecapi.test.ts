/** Reading ECAPI events as senders send them: the sender's millisecond mistakes, and times that are not dates. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readEcapiBody } from './index.ts'

const event = (over: Record<string, unknown> = {}) => ({
  data_set_id: 'acme',
  id: 'e1',
  timestamp: 1_796_500_000,
  event_type: 'contact',
  ...over,
})

function read(body: unknown) {
  const [v] = readEcapiBody(body, 10).verdicts
  return v
}

describe('ECAPI reading', () => {
  test('call times sent in milliseconds are read as seconds, like the event timestamp', () => {
    const v = read(
      event({
        timestamp: 1_796_500_000_123,
        ext: {
          call: {
            call_id: 'CA1',
            started_at: 1_796_499_900_000,
            answered_at: 1_796_499_910_500,
            ended_at: 1_796_500_000,
          },
        },
      }),
    )
    assert.ok('event' in v, JSON.stringify(v))
    assert.equal(v.event.timestamp, 1_796_500_000)
    assert.deepEqual(
      [v.event.ext?.call?.started_at, v.event.ext?.call?.answered_at, v.event.ext?.call?.ended_at],
      [1_796_499_900, 1_796_499_910, 1_796_500_000],
    )
  })

  test('a click time past the year 9999 is refused with its path, not carried into a payload', () => {
    const v = read(event({ ext: { click_ids: { gclid: 'Cj0', clicked_at: 1e300 } } }))
    assert.ok('errors' in v)
    assert.deepEqual(
      v.errors.map((e) => e.path),
      ['/ext/click_ids/clicked_at'],
    )
    const ok = read(event({ ext: { click_ids: { gclid: 'Cj0', clicked_at: 1_796_499_000_000 } } }))
    assert.ok('event' in ok)
  })
})
