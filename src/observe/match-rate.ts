/**
 * The match rate: of the conversions a destination accepted, the share whose payload carried at least one
 * key the platform matches on (a click id, a hashed email or phone…; `Outcome.matchKeys`). Ad platforms
 * can only credit a campaign with a conversion they can match, so when this falls, bidding goes blind
 * while every delivery still succeeds: a landing page that lost its click-id capture, a consent banner
 * that began to deny, a CRM field that stopped arriving. It is watched per campaign and destination
 * against the same pair's own baseline (the days before), and a drop is an alert.
 *
 * Only destinations that report match keys count (webhooks and the log do not), and only delivered
 * deliveries: a pending one has no payload yet.
 *
 * @example
 *   const w = matchRateWindows(Date.now(), { window_hours: 24, baseline_days: 7 })
 *   const checks = checkMatchRates(await store.deliveryTallies(w.all), w, { min_deliveries: 20, drop: 0.15 })
 *   checks.filter((c) => c.alert) // pairs whose rate fell 15 points or more below their baseline
 */
import { HOUR_MS } from '../store/tallies.ts'
import type { DeliveryTally, TimeRange } from '../store/types.ts'

export interface MatchRateConfig {
  /** The current window: the last so many hours, the hour under way included. */
  window_hours: number
  /** The baseline: so many days before the current window. */
  baseline_days: number
  /** Fewer delivered conversions than this in either window: no alert (a rate of 3 says nothing). */
  min_deliveries: number
  /** Alert when the current rate is this much (0–1, absolute) below the baseline. */
  drop: number
}

export interface Rate {
  /** Delivered conversions whose destination reported match keys. */
  reported: number
  /** …of which the payload carried at least one. */
  matched: number
  /** matched / reported, or null with nothing reported. */
  rate: number | null
}

export interface MatchRateCheck {
  campaign: string | null
  destination: string
  current: Rate
  baseline: Rate
  /** The current rate is at least `drop` below the baseline, with `min_deliveries` in both windows. */
  alert: boolean
  /** Both windows have `min_deliveries`: the pair can be judged, alerting or not. */
  measured: boolean
}

export interface MatchRateWindows {
  current: TimeRange
  baseline: TimeRange
  /** Both: what to read. */
  all: TimeRange
}

/** The windows at `now`, on whole hours (the tallies' buckets): the current hour is in the current window. */
export function matchRateWindows(
  now: number,
  cfg: Pick<MatchRateConfig, 'window_hours' | 'baseline_days'>,
): MatchRateWindows {
  const end = Math.floor(now / HOUR_MS) * HOUR_MS + HOUR_MS
  const current = { fromMs: end - cfg.window_hours * HOUR_MS, toMs: end }
  const baseline = { fromMs: current.fromMs - cfg.baseline_days * 24 * HOUR_MS, toMs: current.fromMs }
  return { current, baseline, all: { fromMs: baseline.fromMs, toMs: end } }
}

const rateOf = (reported: number, matched: number): Rate => ({
  reported,
  matched,
  rate: reported > 0 ? matched / reported : null,
})

/** Every campaign and destination with a delivery reporting match keys in either window, alerts first. */
export function checkMatchRates(
  tallies: DeliveryTally[],
  windows: Pick<MatchRateWindows, 'current' | 'baseline'>,
  cfg: Pick<MatchRateConfig, 'min_deliveries' | 'drop'>,
): MatchRateCheck[] {
  const pairs = new Map<string, { campaign: string | null; destination: string; sums: number[] }>()
  const within = (t: number, r: TimeRange) => t >= r.fromMs && t < r.toMs
  for (const t of tallies) {
    if (t.reported === 0) continue
    const slot = within(t.hour, windows.current) ? 0 : within(t.hour, windows.baseline) ? 2 : -1
    if (slot < 0) continue
    const key = JSON.stringify([t.campaign, t.destination])
    let p = pairs.get(key)
    if (!p) {
      p = { campaign: t.campaign, destination: t.destination, sums: [0, 0, 0, 0] }
      pairs.set(key, p)
    }
    p.sums[slot] += t.reported
    p.sums[slot + 1] += t.matched
  }
  const checks = [...pairs.values()].map(({ campaign, destination, sums }): MatchRateCheck => {
    const current = rateOf(sums[0], sums[1])
    const baseline = rateOf(sums[2], sums[3])
    const measured = current.reported >= cfg.min_deliveries && baseline.reported >= cfg.min_deliveries
    const alert = measured && (baseline.rate ?? 0) - (current.rate ?? 0) >= cfg.drop - 1e-9
    return { campaign, destination, current, baseline, alert, measured }
  })
  const name = (c: MatchRateCheck) => `${c.destination}\u0000${c.campaign ?? '\uffff'}`
  return checks.sort((a, b) => Number(b.alert) - Number(a.alert) || name(a).localeCompare(name(b)))
}
