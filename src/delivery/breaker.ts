/**
 * Per-destination health: a circuit breaker plus an operator pause. Pure transitions on plain data, so the
 * state can live in the store and be shared by every node.
 *
 * closed --N consecutive failures--> open --cooldown--> half_open --probe ok--> closed
 *                                                                 --probe fails--> open
 * A pause (auth error, 410 Gone) holds all deliveries until an operator resumes the destination.
 *
 * @example
 *   let h = initialHealth(); h = onResult(h, 'failure', now, cfg) // …after N: h.state === 'open'
 */
export interface Health {
  state: 'closed' | 'open' | 'half_open'
  failures: number
  openedAt?: number
  paused?: { reason: string; at: number }
  /** Whole destination waits until then (429 with Retry-After). */
  notBefore?: number
}

export interface BreakerConfig {
  failures: number
  cooldownMs: number
}

export const initialHealth = (): Health => ({ state: 'closed', failures: 0 })

/** May a batch be sent now? In half_open only one probe is allowed; the caller takes it by sending. */
export function admits(h: Health, now: number, cfg: BreakerConfig): 'send' | 'probe' | 'wait' {
  if (h.paused) return 'wait'
  if (h.notBefore !== undefined && now < h.notBefore) return 'wait'
  if (h.state === 'closed') return 'send'
  if (h.state === 'open' && h.openedAt !== undefined && now - h.openedAt >= cfg.cooldownMs) return 'probe'
  return 'wait'
}

export function onProbe(h: Health): Health {
  return { ...h, state: 'half_open' }
}

export function onResult(
  h: Health,
  result: 'success' | 'failure' | 'neutral',
  now: number,
  cfg: BreakerConfig,
): Health {
  if (result === 'neutral') return h.state === 'half_open' ? { ...h, state: 'closed', failures: 0 } : h
  if (result === 'success') return { ...h, state: 'closed', failures: 0, openedAt: undefined }
  const failures = h.failures + 1
  if (h.state === 'half_open' || failures >= cfg.failures)
    return { ...h, state: 'open', failures, openedAt: now }
  return { ...h, failures }
}

export const pause = (h: Health, reason: string, now: number): Health => ({
  ...h,
  paused: { reason, at: now },
})
export const resume = (h: Health): Health => ({ ...h, paused: undefined, state: 'closed', failures: 0 })
