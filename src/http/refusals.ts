/**
 * How many requests refused before authentication (401, 403, 404) are stored per sender address. Anyone can
 * send those; each stored one costs a row (its body kept to 4 KiB, auth.ts) that retention later scrubs. A
 * sender past its budget is still answered the same way; its refusal is only counted
 * (`closeloop_refusals_unrecorded_total`).
 *
 * @example
 *   const budget = refusalBudget({ burst: 60, perSecond: 1 })
 *   budget.take('203.0.113.9', Date.now()) // true until that address has used its 60, then 1 a second
 */
export interface RefusalBudget {
  take(address: string, now: number): boolean
}

/** Addresses remembered at once; past it the table starts over (every address gets a fresh burst). */
const MAX_ADDRESSES = 10_000

export function refusalBudget(opts: { burst: number; perSecond: number }): RefusalBudget {
  const buckets = new Map<string, { tokens: number; at: number }>()
  return {
    take(address, now) {
      let b = buckets.get(address)
      if (!b) {
        if (buckets.size >= MAX_ADDRESSES) buckets.clear()
        b = { tokens: opts.burst, at: now }
        buckets.set(address, b)
      }
      b.tokens = Math.min(opts.burst, b.tokens + ((now - b.at) / 1000) * opts.perSecond)
      b.at = now
      if (b.tokens < 1) return false
      b.tokens -= 1
      return true
    },
  }
}
