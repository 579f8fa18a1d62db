/** `delivery.lease_s` against destinations' timeouts: a request must end inside its lease. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readConfig, readConfigFile } from './index.ts'

const pb = (extra: string) =>
  `pb: { type: postback, url: "https://net.example/pb?s={signal}", allow_private: true${extra} }`
const errorsOf = (delivery: string, destination: string) =>
  readConfig(`delivery: { ${delivery} }\ndestinations:\n  ${destination}\n`, {}).errors

describe('config: delivery.lease_s and timeout_ms', () => {
  test('a timeout the lease cannot cover is refused, naming the field', () => {
    // the default 60 s lease and a 120 s timeout: a 65 s answer was sent three times
    assert.deepEqual(errorsOf('', pb(', timeout_ms: 120000')), [
      'destinations.pb.timeout_ms: 120000 ms must be at least 2 s below delivery.lease_s (60 s), or a slow ' +
        'answer can outlive its lease and be sent twice; lower timeout_ms or raise delivery.lease_s',
    ])
    // a short lease against the type's default timeout (postback: 30 s)
    const [err, ...rest] = errorsOf('lease_s: 2', pb(''))
    assert.deepEqual(rest, [])
    assert.match(
      err,
      /^destinations\.pb\.timeout_ms: the postback default of 30000 ms must be at least 2 s below/,
    )
    assert.equal(errorsOf('lease_s: 10', pb(', timeout_ms: 8001')).length, 1)
  })

  test('timeouts inside the lease load; a disabled destination is not checked', () => {
    assert.deepEqual(errorsOf('', pb('')), [])
    assert.deepEqual(errorsOf('lease_s: 10', pb(', timeout_ms: 8000')), [])
    assert.deepEqual(errorsOf('lease_s: 8', pb(', timeout_ms: 5000')), [])
    assert.deepEqual(errorsOf('lease_s: 2', pb(', timeout_ms: 120000, enabled: false')), [])
  })

  test('the example config loads', () => {
    assert.deepEqual(readConfigFile('closeloop.example.yaml', {}).errors, [])
  })
})

describe('config: intervals stay inside what a timer can wait', () => {
  test('retention, sweep, cooldown and Retry-After ceilings are refused past their maximum, naming the field', () => {
    // past Node's 2^31 ms a timer fires after 1 ms: retention every 40,000 minutes ran 570 times a second
    const errors = (yaml: string) => readConfig(yaml, {}).errors
    assert.match(errors('retention: { interval_minutes: 40000 }').join('\n'), /retention\.interval_minutes/)
    assert.deepEqual(errors('retention: { interval_minutes: 10080 }'), [])
    assert.match(errors('delivery: { sweep_interval_ms: 3600001 }').join('\n'), /delivery\.sweep_interval_ms/)
    assert.match(errors('delivery: { breaker: { cooldown_s: 90000 } }').join('\n'), /cooldown_s/)
    assert.match(errors('delivery: { max_retry_after_s: 700000 }').join('\n'), /max_retry_after_s/)
  })
})
