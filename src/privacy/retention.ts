/**
 * The retention timer: every `interval_minutes`, raw PII older than `raw_pii_days` is scrubbed from the
 * store (hashes and counts stay). The store does the work in short chunks, so a first run over a large
 * backlog shares the writer with ingest instead of blocking it.
 *
 * @example
 *   const stop = startRetention(store, { raw_pii_days: 30, interval_minutes: 60 }, log)
 *   …; await stop()
 */
import type { TableCounts } from '../store/types.ts'

export interface RetentionConfig {
  /** Raw emails, phones, IPs and user agents are kept this long; 0 disables retention. */
  raw_pii_days: number
  /** How often to look for rows that passed the limit. */
  interval_minutes: number
  /**
   * `calls.default_region`: a number stored without its country code (`07700 900123`) is hashed as the
   * E.164 number it is there, as ingest read it, not as text no platform or deletion can match.
   */
  phone_region?: string
}

interface Scrubber {
  scrubExpired(cutoffMs: number, now: number, opts?: { region?: string }): Promise<TableCounts>
}

interface Log {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

const DAY_MS = 86_400_000

/**
 * Starts the timer (first pass right away) and returns a stop function that waits for a running pass.
 * A failing pass (store unavailable) is logged and retried at the next interval.
 */
export function startRetention(
  store: Scrubber,
  cfg: RetentionConfig,
  log: Log,
  now: () => number = Date.now,
): () => Promise<void> {
  if (cfg.raw_pii_days <= 0) return async () => undefined
  let running: Promise<void> | undefined
  let stopped = false
  const pass = async () => {
    if (running || stopped) return
    running = (async () => {
      const t = now()
      try {
        const counts = await store.scrubExpired(t - cfg.raw_pii_days * DAY_MS, t, {
          region: cfg.phone_region,
        })
        if (Object.keys(counts).length) log.info({ scrubbed: counts }, 'retention: raw PII scrubbed')
      } catch (err) {
        log.warn({ err }, 'retention pass failed; retrying at the next interval')
      }
    })()
    await running
    running = undefined
  }
  const timer = setInterval(pass, Math.max(1, cfg.interval_minutes) * 60_000)
  // a retention timer alone must not keep the process alive
  timer.unref()
  void pass()
  return async () => {
    stopped = true
    clearInterval(timer)
    await running
  }
}
