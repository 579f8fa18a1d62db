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
import { type Bucket, takeTokens } from '../store/rate-bucket.ts'

export interface RefusalBudget {
  take(address: string, now: number): boolean
}

/** Addresses remembered at once; past it the table starts over (every address gets a fresh burst). */
const MAX_ADDRESSES = 10_000

export function refusalBudget(opts: { burst: number; perSecond: number }): RefusalBudget {
  const buckets = new Map<string, Bucket>()
  return {
    take(address, now) {
      if (!buckets.has(address) && buckets.size >= MAX_ADDRESSES) buckets.clear()
      return takeTokens(buckets, address, now, opts, 1) === 1
    },
  }
}
