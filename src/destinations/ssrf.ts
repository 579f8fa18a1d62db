/**
 * Which addresses an outbound delivery may not reach unless the destination says `allow_private: true`:
 * loopback, RFC 1918, link-local (cloud metadata), CGNAT, unique-local and site-local IPv6, unspecified,
 * multicast and reserved ranges, the IPv4-mapped IPv6 forms of all of them (delivery-reliability.md §10),
 * and the IPv6 prefixes that carry an IPv4 address inside them.
 */
import { BlockList, isIPv4 } from 'node:net'

const blocked = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, prefix, 'ipv4')
// Prefixes that embed an IPv4 address (IPv4-compatible, IPv4-translated, 6to4, NAT64) are blocked whole
// rather than by the embedded address: a host that routes them can reach 127.0.0.1 or 10.x through them,
// and no destination API is published on such an address.
for (const [net, prefix] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
  ['::ffff:0:0:0', 96], // IPv4-translated (SIIT, RFC 6145)
  ['64:ff9b::', 96], // NAT64 well-known prefix (RFC 6052)
  ['64:ff9b:1::', 48], // NAT64 local-use prefix (RFC 8215)
  ['2002::', 16], // 6to4 (RFC 3056)
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10], // deprecated site-local (RFC 3879), still routed on some internal networks
  ['ff00::', 8],
] as const)
  blocked.addSubnet(net, prefix, 'ipv6')

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return blocked.check(mapped[1], 'ipv4')
  return isIPv4(address) ? blocked.check(address, 'ipv4') : blocked.check(address, 'ipv6')
}
