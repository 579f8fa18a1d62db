/** Which addresses the SSRF guard refuses: every private form, and the public ones it must not. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { isPrivateAddress } from './ssrf.ts'

describe('SSRF guard: isPrivateAddress', () => {
  test('IPv4 private, loopback, link-local, CGNAT, multicast and reserved; their IPv4-mapped forms', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1'])
      assert.equal(isPrivateAddress(a), true, a)
    for (const a of ['0.0.0.0', '224.0.0.1', '255.255.255.255', '::ffff:127.0.0.1', '::ffff:a9fe:a9fe'])
      assert.equal(isPrivateAddress(a), true, a)
  })

  test('IPv6 loopback, unspecified, unique-local, link-local, site-local, multicast', () => {
    for (const a of ['::1', '::', 'fd00::1', 'fe80::1', 'fec0::1', 'feff::1', 'ff02::1'])
      assert.equal(isPrivateAddress(a), true, a)
  })

  test('prefixes that embed an IPv4 address are blocked whole: compatible, translated, 6to4, NAT64', () => {
    for (const a of [
      '::7f00:1', // ::127.0.0.1
      '::808:808', // ::8.8.8.8: the whole deprecated prefix
      '::ffff:0:7f00:1', // IPv4-translated 127.0.0.1
      '2002:7f00:1::', // 6to4 of 127.0.0.1
      '2002:808:808::1', // 6to4 of a public address: the whole prefix
      '64:ff9b::7f00:1', // NAT64 of 127.0.0.1
      '64:ff9b:1::a00:1', // local-use NAT64 of 10.0.0.1
      '64:ff9b:1:ffff::1',
    ])
      assert.equal(isPrivateAddress(a), true, a)
  })

  test('public addresses pass', () => {
    for (const a of [
      '8.8.8.8',
      '::ffff:8.8.8.8',
      '2001:4860:4860::8888',
      '2606:4700::1111',
      '2003::1',
      '64:ff9b:2::1',
      '::1:0:0:1',
    ])
      assert.equal(isPrivateAddress(a), false, a)
  })
})
