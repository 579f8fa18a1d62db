/**
 * Batch isolation, shared by the destinations whose platform rejects a whole request for one bad event
 * (Meta CAPI, TikTok, ECAPI partners): send the events in requests of `perRequest`; when the platform rejects
 * a multi-event request as invalid, split it (the event it named alone, else halves) and resend the parts
 * until each bad event stands alone, so good events are delivered and only the bad one fails. A verdict that
 * halts (paused, throttled) leaves every later event of the call unsent with the same outcome.
 *
 * @example
 *   await sendIsolating(pending, 100, outcomes, post, { log: ctx.log, destination: 'meta_capi', message: '…' })
 */
import type { Outcome } from '../model/signal.ts'
import type { DestinationContext } from './contract.ts'

/** An outcome for one request, plus what the sender should do with a multi-event batch. */
export interface BatchVerdict {
  outcome: Outcome
  /** The platform rejected a multi-event request as invalid: resend it in parts to find the bad event(s). */
  isolate: boolean
  /** Index of the bad event, when the platform named it. */
  badIndex?: number
  /** Stop sending further requests in this call (paused or throttled: they would fail alike). */
  halt: boolean
}

/** What `sendIsolating` logs when it splits a rejected batch. */
export interface IsolationLog {
  log: DestinationContext['log']
  destination: string
  message: string
}

/**
 * Send `pending` in requests of at most `perRequest` through `post`, writing each event's outcome at its
 * `index` in `outcomes`; isolate bad events of rejected batches and stop after a halting verdict.
 *
 * @example
 *   const outcomes: Outcome[] = new Array(jobs.length)
 *   await sendIsolating(pending, 100, outcomes, async (group) => classify(await request(group)), isolation)
 */
export async function sendIsolating<P extends { index: number }>(
  pending: P[],
  perRequest: number,
  outcomes: Outcome[],
  post: (group: P[]) => Promise<BatchVerdict>,
  isolation: IsolationLog,
): Promise<void> {
  let halted: Outcome | undefined
  const deliver = async (group: P[]): Promise<void> => {
    if (halted) {
      for (const p of group) outcomes[p.index] = notSent(halted)
      return
    }
    const verdict = await post(group)
    if (verdict.isolate && group.length > 1) {
      isolation.log.info(
        {
          destination: isolation.destination,
          size: group.length,
          badIndex: verdict.badIndex,
          code: verdict.outcome.code,
        },
        isolation.message,
      )
      for (const part of split(group, verdict.badIndex)) await deliver(part)
      return
    }
    if (verdict.halt) halted = verdict.outcome
    for (const p of group) outcomes[p.index] = { ...verdict.outcome }
  }

  for (let i = 0; i < pending.length; i += perRequest) await deliver(pending.slice(i, i + perRequest))
}

/**
 * Split a rejected batch: the event the platform named goes alone (its own send confirms the verdict) and
 * the rest together; without a usable index, halves.
 *
 * @example
 *   split([a, b, c, d], 2) // [[c], [a, b, d]]
 *   split([a, b, c, d])    // [[a, b], [c, d]]
 */
export function split<V>(group: V[], badIndex?: number): V[][] {
  if (badIndex !== undefined && Number.isInteger(badIndex) && badIndex >= 0 && badIndex < group.length)
    return [[group[badIndex]], [...group.slice(0, badIndex), ...group.slice(badIndex + 1)]]
  const mid = Math.ceil(group.length / 2)
  return [group.slice(0, mid), group.slice(mid)]
}

/** The outcome for an event not sent because an earlier request in this call paused or throttled us. */
export function notSent(cause: Outcome): Outcome {
  return {
    kind: cause.kind,
    code: cause.code,
    message: `not sent: ${cause.message ?? cause.code}`,
    retryAfterMs: cause.retryAfterMs,
  }
}
