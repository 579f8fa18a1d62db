/**
 * The match-rate alert: every `check_every_s` the server checks each campaign and destination
 * (match-rate.ts), publishes the rates as gauges, logs a warning when a pair starts alerting and an info
 * line when it recovers — once per change, not at every check — and hands each change to `notify`
 * (alerts.ts, which sends it out once across nodes). With several nodes on one database each checks and
 * logs on its own; the gauges agree.
 *
 * A node knows only the changes it saw. At its first check it also hands `notify` every pair that is not
 * alerting, as a possible recovery: one that happened while it was down, after it had sent the drop.
 * `notify` sends it only if the store says a drop was sent.
 *
 * @example
 *   const watch = watchMatchRates({ report: (now) => matchRateReport(store, cfg, now), cfg, metrics, log })
 *   await watch.check() // also runs every cfg.check_every_s
 *   watch.stop()
 */
import type { MatchRateCheck } from './match-rate.ts'
import type { Metrics } from './metrics.ts'
import type { MatchRateReport } from './report.ts'

/** Gauges per pair: campaigns come from the events, so their number is capped to keep /metrics bounded. */
const MAX_SERIES = 500
/** The first check, after start. */
const FIRST_CHECK_MS = 30_000

export interface MatchRateWatch {
  /** Runs one check now; resolves with the pairs alerting. */
  check(): Promise<MatchRateCheck[]>
  /** No more checks; resolves once the one under way (if any) is done, so the store can close. */
  stop(): Promise<void>
}

export function watchMatchRates(opts: {
  /** The match rate at `now` (`matchRateReport`). */
  report: (now: number) => Promise<MatchRateReport>
  cfg: { check_every_s: number }
  metrics: Pick<Metrics, 'matchRate' | 'matchRateAlert'>
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void }
  /** Called for each pair that starts or stops alerting (alerts.ts sends it out); failures are logged. */
  notify?: (change: 'dropped' | 'recovered', check: MatchRateCheck) => Promise<void>
  now?: () => number
  /** The first check after start: 30 s, or the interval if shorter. */
  firstCheckMs?: number
}): MatchRateWatch {
  const now = opts.now ?? Date.now
  /** Pairs alerting at the last check, by key. */
  let alerting = new Map<string, MatchRateCheck>()
  let firstCheck = true
  const keyOf = (c: MatchRateCheck) => JSON.stringify([c.campaign, c.destination])
  // a signal with no campaign is `(none)`: as '' it shared its series with a campaign sent as "", and the
  // later of the two overwrote the other's alert
  const labels = (c: MatchRateCheck) => ({ campaign: c.campaign ?? '(none)', destination: c.destination })
  const pct = (r: number | null) => (r === null ? null : Math.round(r * 1000) / 10)

  /** The gauges and the log now; the changes to send (a drop, a recovery). */
  async function evaluate(): Promise<{
    alerting: MatchRateCheck[]
    changes: Array<['dropped' | 'recovered', MatchRateCheck]>
  }> {
    const { checks } = await opts.report(now())
    const next = new Map(checks.filter((c) => c.alert).map((c) => [keyOf(c), c]))
    // a pair that stopped alerting only because too few conversions are left to judge it has not
    // recovered: it stays alerting until it is measured again (a 0 % rate was announced as recovered)
    for (const [k] of alerting) {
      const current = checks.find((x) => keyOf(x) === k)
      if (!next.has(k) && current && !current.measured) next.set(k, current)
    }
    const { matchRate, matchRateAlert } = opts.metrics
    matchRate.reset()
    matchRateAlert.reset()
    for (const c of checks.slice(0, MAX_SERIES)) {
      if (c.current.rate !== null) matchRate.set({ ...labels(c), window: 'current' }, c.current.rate)
      if (c.baseline.rate !== null) matchRate.set({ ...labels(c), window: 'baseline' }, c.baseline.rate)
      matchRateAlert.set(labels(c), next.has(keyOf(c)) ? 1 : 0)
    }
    const changes: Array<['dropped' | 'recovered', MatchRateCheck]> = []
    for (const [k, c] of next)
      if (!alerting.has(k)) {
        opts.log.warn(
          {
            campaign: c.campaign,
            destination: c.destination,
            current_pct: pct(c.current.rate),
            baseline_pct: pct(c.baseline.rate),
            delivered: c.current.reported,
          },
          'match rate dropped below its baseline',
        )
        changes.push(['dropped', c])
      }
    for (const [k, c] of alerting)
      if (!next.has(k)) {
        opts.log.info({ campaign: c.campaign, destination: c.destination }, 'match rate recovered')
        // the pair as it is now, if it is still measured
        changes.push(['recovered', checks.find((x) => keyOf(x) === k) ?? c])
      }
    if (firstCheck) for (const c of checks) if (!c.alert) changes.push(['recovered', c])
    firstCheck = false
    alerting = next
    return { alerting: [...next.values()], changes }
  }

  /**
   * One at a time: a node's first check offers every pair as a possible recovery, each a small
   * transaction, and a burst of hundreds at once would compete with ingest for the store.
   */
  async function send(changes: Array<['dropped' | 'recovered', MatchRateCheck]>) {
    for (const [change, c] of opts.notify ? changes : [])
      await opts
        .notify?.(change, c)
        .catch((err) => opts.log.warn({ err: String(err) }, 'match rate alert failed'))
  }

  /** Checks now and sends what changed; settles when every change is sent (or has failed). */
  async function check(): Promise<MatchRateCheck[]> {
    const { alerting, changes } = await evaluate()
    await send(changes)
    return alerting
  }

  /**
   * The check under way, if any: ticks do not stack, and `stop` waits for it. Its alerts go out behind
   * it: awaited in the check, a receiver down for its ~70 s of retries froze the gauges for as long (later
   * ticks were skipped) and held shutdown 50 s (a review reproduced both).
   */
  let running: Promise<unknown> | undefined
  let sending: Promise<void> = Promise.resolve()
  function tick() {
    running ??= evaluate()
      .then(({ changes }) => {
        if (changes.length) sending = sending.then(() => send(changes))
      })
      .catch((err) => opts.log.warn({ err: String(err) }, 'match rate check failed'))
      .finally(() => {
        running = undefined
      })
  }
  // the gauges exist soon after start, not a whole interval later; not at once, when a node starts busy
  const first = setTimeout(tick, Math.min(opts.firstCheckMs ?? FIRST_CHECK_MS, opts.cfg.check_every_s * 1000))
  const timer = setInterval(tick, opts.cfg.check_every_s * 1000)
  first.unref()
  timer.unref()
  return {
    check,
    async stop() {
      clearTimeout(first)
      clearInterval(timer)
      await running
    },
  }
}
