/**
 * Budgets of requests per sender address, in memory (one per node): how many refusals before
 * authentication are stored (anyone can send those, and each stored one costs a row), and how fast a browser
 * with a publishable site key may capture clicks and ask for numbers (anyone can copy that key).
 *
 * An IPv6 sender is budgeted by its /64, what one host or home is given: rotating the low bits of an
 * address is free.
 *
 * @example
 *   const budget = addressBudget({ burst: 60, perSecond: 1 })
 *   budget.take('203.0.113.9', Date.now()) // true until that address has used its 60, then 1 a second
 */
import { type Bucket, takeTokens } from '../store/rate-bucket.ts'

export interface AddressBudget {
  /** Takes one request from the address's budget; false when none is left. */
  take(address: string, now: number): boolean
  /** Milliseconds until the address has a request again (0 when it has one now). */
  waitMs(address: string, now: number): number
}

/** Addresses remembered at once; past it the oldest are forgotten (they start over with a full burst). */
const MAX_ADDRESSES = 10_000

export function addressBudget(opts: { burst: number; perSecond: number }): AddressBudget {
  const buckets = new Map<string, Bucket>()
  return {
    take(address, now) {
      const key = addressKey(address)
      if (!buckets.has(key) && buckets.size >= MAX_ADDRESSES) forgetOldest(buckets)
      return takeTokens(buckets, key, now, opts, 1) === 1
    },
    waitMs(address, now) {
      const b = buckets.get(addressKey(address))
      if (!b) return 0
      const tokens = Math.min(
        opts.burst,
        b.tokens + (Math.max(0, now - b.refilledAt) / 1000) * opts.perSecond,
      )
      return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / opts.perSecond) * 1000)
    },
  }
}

/** A Map iterates in insertion order: the first hundredth are the addresses seen longest ago. */
function forgetOldest(buckets: Map<string, Bucket>) {
  let n = Math.ceil(buckets.size / 100)
  for (const key of buckets.keys()) {
    if (n-- <= 0) break
    buckets.delete(key)
  }
}

const IPV4_TAIL = /(\d{1,3}(?:\.\d{1,3}){3})$/

/**
 * The part of an address a budget counts by: an IPv4 address (also written IPv4-mapped, `::ffff:…`) as
 * itself, an IPv6 address by its /64.
 *
 * @example addressKey('2001:db8:1:2:aaaa::1') // '2001:db8:1:2::/64'
 */
export function addressKey(address: string): string {
  const bare = address.split('%')[0]
  if (!bare.includes(':')) return bare
  const v4 = IPV4_TAIL.exec(bare)
  if (v4 && /^(::ffff:|::)/i.test(bare)) return v4[1]
  const [head, tail] = bare.toLowerCase().split('::')
  const front = head ? head.split(':') : []
  const back = tail === undefined ? [] : tail ? tail.split(':') : []
  const groups = [...front, ...Array(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}
