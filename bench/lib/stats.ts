/**
 * Small statistics for benchmark results: percentiles (nearest-rank, no interpolation: a p99 is a latency
 * some request really had) and the median of rounds.
 */

export interface Summary {
  count: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

/** Nearest-rank percentile of an ascending array; NaN for an empty one. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export function summarize(values: number[]): Summary {
  const sorted = Float64Array.from(values).sort()
  let sum = 0
  for (const v of sorted) sum += v
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  }
}

/** The middle value (mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const s = Float64Array.from(values).sort()
  if (s.length === 0) return Number.NaN
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** Round for display and JSON: hundredths of a ms or req/s are far below the noise of any number here. */
export function round(n: number, digits = 2): number {
  if (!Number.isFinite(n)) return n
  const f = 10 ** digits
  return Math.round(n * f) / f
}
