/**
 * Token buckets kept in memory: `rate_per_s` for a store that only one process uses (SQLite), as the
 * PostgreSQL store keeps it in a row, and the HTTP layer's budgets per sender address (http/address-budget.ts).
 *
 * @example
 *   const take = memoryRateBuckets(Date.now); await take('meta', 10, 2) // → 2, then fewer as it drains
 */

export interface Bucket {
  tokens: number
  refilledAt: number
}

/**
 * Refills `key`'s bucket to `now` at `perSecond`, up to `burst` (a new bucket starts full), and takes up to
 * `want` whole tokens: how many it took.
 *
 * @example takeTokens(buckets, '203.0.113.9', Date.now(), { perSecond: 1, burst: 60 }, 1) // 1, until 60 are used
 */
export function takeTokens(
  buckets: Map<string, Bucket>,
  key: string,
  now: number,
  rate: { perSecond: number; burst: number },
  want: number,
): number {
  const b = buckets.get(key) ?? { tokens: rate.burst, refilledAt: now }
  const available = Math.min(rate.burst, b.tokens + (Math.max(0, now - b.refilledAt) / 1000) * rate.perSecond)
  const granted = Math.min(want, Math.floor(available))
  buckets.set(key, { tokens: available - granted, refilledAt: Math.max(b.refilledAt, now) })
  return granted
}

/**
 * How many tokens a destination's bucket holds: one second's worth, and at least one. Capped at the rate,
 * a `rate_per_s` below 1 (a partner's 30 a minute) never held a whole token, and nothing was ever sent.
 *
 * @example rateBurst(0.5) // 1
 */
export const rateBurst = (ratePerS: number) => Math.max(1, ratePerS)

/** A destination's `rate_per_s` bucket: a burst of one second's worth (at least one), refilled continuously. */
export function memoryRateBuckets(now: () => number) {
  const buckets = new Map<string, Bucket>()
  return function takeRateTokens(destination: string, ratePerS: number, want: number): Promise<number> {
    return Promise.resolve(
      takeTokens(buckets, destination, now(), { perSecond: ratePerS, burst: rateBurst(ratePerS) }, want),
    )
  }
}
