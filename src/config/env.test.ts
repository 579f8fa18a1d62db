/** `${VAR}` in the config: what an unset variable switches off, what it refuses, and values read as typed. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readConfig } from './index.ts'

const pb = (extra = '') => `destinations:\n  pb: { type: postback, url: "https://net.example/pb"${extra} }\n`

describe('config: environment variables', () => {
  test('an unset variable disables its destination or source, and is an error anywhere else', () => {
    assert.deepEqual(readConfig(pb(', headers: { X-Key: "${NET_KEY}" }'), {}).warnings, [
      'destinations.pb: disabled (NET_KEY not set)',
    ])
    // dropped, these fell back to a default or left a site key empty (every browser click answered 500)
    for (const [yaml, path] of [
      ['consent: { default: "${CONSENT_DEFAULT}" }\n', 'consent.default'],
      ['store: { sqlite: "${DB_PATH}" }\n', 'store.sqlite'],
      [
        'attribution: { site_keys: [{ name: lp, key: "${SITE_KEY}", origins: ["https://lp.example"] }] }\n',
        'attribution.site_keys.0.key',
      ],
    ]) {
      const { config, errors } = readConfig(yaml, {})
      assert.equal(config, undefined, yaml)
      assert.equal(errors.length, 1, errors.join('; '))
      assert.match(errors[0], new RegExp(`^${path.replaceAll('.', '\\.')}: \\w+ not set`))
    }
    assert.equal(
      readConfig('consent: { default: "${CONSENT_DEFAULT:-denied}" }\n', {}).config?.consent.default,
      'denied',
    )
  })

  test('enabled from a variable is read as a boolean: "false" switches off', () => {
    const enabled = (value: string) =>
      readConfig(pb(', enabled: "${PB_ENABLED}"'), { PB_ENABLED: value }).config?.destinations.pb.enabled
    assert.equal(enabled('false'), false)
    assert.equal(enabled('true'), true)
  })
})
