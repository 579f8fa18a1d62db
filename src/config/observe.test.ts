/** The `observe` section: defaults, and errors that name the path. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readConfig } from './index.ts'

describe('config: observe', () => {
  test('defaults when absent', () => {
    const { config, errors } = readConfig('store: { sqlite: ":memory:" }\n', {})
    assert.deepEqual(errors, [])
    assert.deepEqual(config?.observe, {
      timezone: 'UTC',
      match_rate: { window_hours: 24, baseline_days: 7, min_deliveries: 20, drop: 0.15, check_every_s: 600 },
    })
  })

  test('a zone and the alert tuned', () => {
    const { config, errors } = readConfig(
      'observe: { timezone: America/Chicago, match_rate: { drop: 0.1, check_every_s: 0 } }\n',
      {},
    )
    assert.deepEqual(errors, [])
    assert.equal(config?.observe.timezone, 'America/Chicago')
    assert.equal(config?.observe.match_rate.drop, 0.1)
    assert.equal(config?.observe.match_rate.check_every_s, 0)
  })

  test('errors name the field', () => {
    const errs = (yaml: string) => readConfig(yaml, {}).errors.join('\n')
    assert.match(
      errs('observe: { timezone: Mars/Olympus }\n'),
      /observe\.timezone: unknown IANA time zone "Mars\/Olympus"/,
    )
    assert.match(errs('observe: { match_rate: { drop: 1.5 } }\n'), /observe\.match_rate\.drop/)
    assert.match(errs('observe: { match_rate: { drop: 0 } }\n'), /observe\.match_rate\.drop/)
    assert.match(errs('observe: { match_rate: { window_hours: 0 } }\n'), /observe\.match_rate\.window_hours/)
    assert.match(errs('observe: { match_rate: { windw_hours: 12 } }\n'), /observe\.match_rate/)
  })
})
