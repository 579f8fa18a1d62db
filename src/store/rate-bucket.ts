/**
 * The token bucket behind `rate_per_s` for a store that only one process uses (SQLite): kept in memory,
 * as the PostgreSQL store keeps it in a row. A burst of one second's worth, refilled continuously.
 *
 * @example
 *   const take = memoryRateBuckets(Date.now); await take('meta', 10, 2) // → 2, then fewer as it drains
 */
export function memoryRateBuckets(now: () => number) {
  const buckets = new Map<string, { tokens: number; refilledAt: number }>()
  return function takeRateTokens(destination: string, ratePerS: number, want: number): Promise<number> {
    const t = now()
    const b = buckets.get(destination) ?? { tokens: ratePerS, refilledAt: t }
    const available = Math.min(ratePerS, b.tokens + (Math.max(0, t - b.refilledAt) / 1000) * ratePerS)
    const granted = Math.min(want, Math.floor(available))
    buckets.set(destination, { tokens: available - granted, refilledAt: Math.max(b.refilledAt, t) })
    return Promise.resolve(granted)
  }
}
