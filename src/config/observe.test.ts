/** The `observe` section: defaults, and errors that name the path. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readConfig } from './index.ts'

describe('config: observe', () => {
  test('defaults when absent', () => {
    const { config, errors } = readConfig('store: { sqlite: ":memory:" }\n', {})
    assert.deepEqual(errors, [])
    assert.deepEqual(config?.observe, {
      alerts: [],
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

  test('alert receivers: a signed webhook needs its secret; both kinds of credential are redacted', () => {
    const missing = readConfig('observe: { alerts: [ { url: "https://ops.example/hook" } ] }\n', {})
    assert.match(
      missing.errors.join('\n'),
      /observe\.alerts\.0\.secret: required for format standard_webhooks/,
    )
    const { config, errors } = readConfig(
      `observe:
  alerts:
    - { url: "https://ops.example/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }
    - { url: "https://hooks.slack.com/services/T0/B0/abc", format: slack }
`,
      {},
    )
    assert.deepEqual(errors, [])
    assert.deepEqual(
      config?.observe.alerts.map((a) => [a.format, a.allow_private]),
      [
        ['standard_webhooks', false],
        ['slack', false],
      ],
    )
    assert.ok(config?.secrets.includes('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'))
    assert.ok(config?.secrets.includes('https://hooks.slack.com/services/T0/B0/abc'))
    assert.ok(!config?.secrets.includes('https://ops.example/hook'))
    assert.match(
      readConfig('observe: { alerts: [ { url: "ftp://x" } ] }\n', {}).errors.join('\n'),
      /observe\.alerts\.0\.url/,
    )
  })

  test('a weak alert secret is refused: empty, not base64, or under 24 bytes; the secret is never quoted', () => {
    const errs = (secret: string) =>
      readConfig(`observe: { alerts: [ { url: "https://ops.example/hook", secret: "${secret}" } ] }\n`, {})
        .errors
    const rule =
      /^observe\.alerts\.0\.secret: must be whsec_ followed by the base64 of at least 24 random bytes/
    for (const [secret, why] of [
      ['whsec_', /got 0 bytes/],
      ['whsec_not-base64!!', /not valid base64/],
      ['whsec_c2hvcnQta2V5', /got 9 bytes/],
      ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS', /not valid base64/],
    ] as const) {
      const e = errs(secret)
      assert.equal(e.length, 1, `${secret}: ${e.join('; ')}`)
      assert.match(e[0], rule)
      assert.match(e[0], why)
      assert.ok(secret === 'whsec_' || !e[0].includes(secret.slice(6)), 'the secret is not in the message')
    }
    assert.deepEqual(errs('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'), [])
  })
})
