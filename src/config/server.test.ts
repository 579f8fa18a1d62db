/** The `server` section: whose forwarded addresses are believed. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readConfig } from './index.ts'

const withSource = (trust: string) =>
  readConfig(
    `server: { trust_proxy: ${trust} }\nsources: { cc: { type: postback, allow_ips: ["203.0.113.0/24"], data_set_id: acme } }\n`,
    {},
  )

describe('server.trust_proxy', () => {
  test('true with an allow_ips source is refused: the client would choose its own address', () => {
    const { errors } = withSource('true')
    assert.equal(errors.length, 1, errors.join('; '))
    assert.match(errors[0], /^sources\.cc\.allow_ips: cannot be enforced with server\.trust_proxy: true/)
  })

  test('a hop count or proxy addresses are accepted; an address that does not parse is an error', () => {
    assert.deepEqual(withSource('1').errors, [])
    assert.deepEqual(withSource('["10.0.0.0/8", "::1"]').errors, [])
    assert.deepEqual(withSource('["10.0.0.0/33", "proxy.local"]').errors, [
      'server.trust_proxy: "10.0.0.0/33" is not an address or CIDR',
      'server.trust_proxy: "proxy.local" is not an address or CIDR',
    ])
    // without allow_ips, true stays what it was
    assert.deepEqual(readConfig('server: { trust_proxy: true }\n', {}).errors, [])
  })
})
