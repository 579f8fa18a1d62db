/**
 * What happens to a delivery after an attempt: a pure function of the outcome, the attempts so far and the
 * retry policy. The engine records its answer; nothing here touches a clock or a database.
 *
 * - delivered → delivered
 * - permanent → dead
 * - retry → next slot of the schedule ± jitter, or later if the destination asked (Retry-After, clamped),
 *   or a fixed delay (Google TOO_RECENT: 6 h); past the last slot → dead
 * - throttled (429, platform rate limit) → retried after Retry-After without burning an attempt
 *   (delivery-reliability.md §6: throttling is the receiver's state, not the delivery's failure)
 * - paused (auth failure, 410) → back to pending untouched; it waits for the destination to be resumed
 *
 * @example
 *   nextState({ kind: 'retry' }, 0, policy, 1_000, () => 0.5) // { status: 'pending', dueAt: 6_000, attempts: 1 }
 */
import type { Outcome } from '../model/signal.ts'

export interface RetryPolicy {
  scheduleS: number[]
  jitter: number
  maxRetryAfterS: number
}

export interface NextState {
  status: 'delivered' | 'pending' | 'dead' | 'skipped'
  dueAt: number
  attempts: number
  lastError?: string
  /** What the delivered payload carried to match on, kept with the delivery: the match rate's source. */
  matchKeys?: string[]
}

/** A throttled delivery with no Retry-After waits this long (Svix uses 60 s after a 429; we start lower). */
const DEFAULT_THROTTLE_MS = 5_000

export function nextState(
  outcome: Outcome,
  attemptsBefore: number,
  policy: RetryPolicy,
  now: number,
  random: () => number = Math.random,
): NextState {
  const lastError = outcome.kind === 'delivered' ? undefined : describe(outcome)
  switch (outcome.kind) {
    case 'delivered':
      return {
        status: 'delivered',
        dueAt: now,
        attempts: attemptsBefore + 1,
        ...(outcome.matchKeys ? { matchKeys: outcome.matchKeys } : {}),
      }
    case 'permanent':
      return { status: 'dead', dueAt: now, attempts: attemptsBefore + 1, lastError }
    case 'skipped':
      return { status: 'skipped', dueAt: now, attempts: attemptsBefore, lastError }
    case 'paused':
      return { status: 'pending', dueAt: now, attempts: attemptsBefore, lastError }
    case 'throttled': {
      const wait = clampRetryAfter(outcome.retryAfterMs ?? DEFAULT_THROTTLE_MS, policy)
      return { status: 'pending', dueAt: now + wait, attempts: attemptsBefore, lastError }
    }
    case 'retry': {
      const attempts = attemptsBefore + 1
      if (attempts > policy.scheduleS.length) return { status: 'dead', dueAt: now, attempts, lastError }
      if (outcome.fixedDelayMs !== undefined)
        return { status: 'pending', dueAt: now + outcome.fixedDelayMs, attempts, lastError }
      const base = policy.scheduleS[attempts - 1] * 1000
      const jittered = base * (1 + policy.jitter * (2 * random() - 1))
      const asked = outcome.retryAfterMs === undefined ? 0 : clampRetryAfter(outcome.retryAfterMs, policy)
      return { status: 'pending', dueAt: now + Math.round(Math.max(jittered, asked)), attempts, lastError }
    }
  }
}

/** A receiver's `Retry-After`, within [0, `max_retry_after_s`]: a year-long one must not stop a destination. */
export const clampRetryAfter = (ms: number, policy: RetryPolicy) =>
  Math.min(Math.max(ms, 0), policy.maxRetryAfterS * 1000)

function describe(o: Outcome): string {
  // an exchange error already leads with its code (`E_SSRF: … resolves to private address …`): say it once
  const saysCode = o.code && o.message && (o.message === o.code || o.message.startsWith(`${o.code}:`))
  return [saysCode ? undefined : o.code, o.message].filter(Boolean).join(': ').slice(0, 500) || o.kind
}
