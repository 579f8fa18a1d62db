/** `${VAR}` in the config: what an unset variable switches off, what it refuses, and values read as typed. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readConfig } from './index.ts'

const pb = (extra = '') => `destinations:\n  pb: { type: postback, url: "https://net.example/pb"${extra} }\n`

describe('config: environment variables', () => {
  test('an unset variable disables its destination or source, and is an error anywhere else', () => {
    assert.deepEqual(readConfig(pb(`, headers: { X-Key: "\${NET_KEY}" }`), {}).warnings, [
      'destinations.pb: disabled (NET_KEY not set)',
    ])
    // dropped, these fell back to a default or left a site key empty (every browser click answered 500)
    for (const [yaml, path] of [
      [`consent: { default: "\${CONSENT_DEFAULT}" }\n`, 'consent.default'],
      [`store: { sqlite: "\${DB_PATH}" }\n`, 'store.sqlite'],
      [
        `attribution: { site_keys: [{ name: lp, key: "\${SITE_KEY}", origins: ["https://lp.example"] }] }\n`,
        'attribution.site_keys.0.key',
      ],
    ]) {
      const { config, errors } = readConfig(yaml, {})
      assert.equal(config, undefined, yaml)
      assert.equal(errors.length, 1, errors.join('; '))
      assert.match(errors[0], new RegExp(`^${path.replaceAll('.', '\\.')}: \\w+ not set`))
    }
    assert.equal(
      readConfig(`consent: { default: "\${CONSENT_DEFAULT:-denied}" }\n`, {}).config?.consent.default,
      'denied',
    )
  })

  test('enabled from a variable is read as a boolean: "false" switches off', () => {
    const enabled = (value: string) =>
      readConfig(pb(`, enabled: "\${PB_ENABLED}"`), { PB_ENABLED: value }).config?.destinations.pb.enabled
    assert.equal(enabled('false'), false)
    assert.equal(enabled('true'), true)
  })
})

describe('config: consent options', () => {
  test('sensitive_data, malformed_gpp and tcf_vendor_ids are settings, and reach the signals', async () => {
    const { config, errors } = readConfig(
      'consent: { default: granted, malformed_gpp: default, sensitive_data: restrict, tcf_vendor_ids: { meta: 123 } }\n',
      {},
    )
    assert.ok(config, errors.join('; '))
    assert.deepEqual(
      [config.consent.malformed_gpp, config.consent.sensitive_data, config.consent.tcf_vendor_ids],
      ['default', 'restrict', { meta: 123 }],
    )
    assert.match(
      readConfig('consent: { malformed_gpp: maybe }\n', {}).errors.join(),
      /consent\.malformed_gpp/,
    )
    // an unreadable GPP string: denied by default, the default policy with malformed_gpp: default
    const { ecapiItem } = await import('../pipeline/ecapi.ts')
    const pii = (malformedGpp: 'deny' | 'default') => {
      const item = ecapiItem(
        {
          data_set_id: 'a',
          id: 'e1',
          timestamp: 1_700_000_000,
          event_type: 'purchase',
          user_data: { gpp_string: 'not-gpp' },
        },
        {
          routes: [],
          activeDestinations: new Set(),
          consentDefault: 'granted',
          consentOptions: { malformedGpp },
        },
      )
      return item.derive({ eventId: 'evt_1', rawId: 'raw_1', facts: {}, now: 1_700_000_000_000 }).signals[0]
        .signal.consent.pii
    }
    assert.equal(pii('deny'), false)
    assert.equal(pii('default'), true)
  })
})
