/**
 * What `closeloop report`, `GET /v1/reports/reconciliation` and `GET /v1/reports/match-rate` answer,
 * read from the store: the reconciliation of whole UTC days, and the match rate of each campaign and
 * destination now against its baseline.
 *
 * @example
 *   const days = dayRange({ from: '2026-12-01', to: '2026-12-06' }, Date.now())
 *   if ('range' in days) console.log(await reconciliationReport(store, days.range))
 */
import type { ErrorDetail } from '../model/errors.ts'
import type { DeliveryTally, Store, TimeRange } from '../store/types.ts'
import { checkMatchRates, type MatchRateCheck, type MatchRateConfig, matchRateWindows } from './match-rate.ts'
import { type Reconciliation, reconcile, utcDay } from './reconcile.ts'

const DAY_MS = 86_400_000
/** A report reads every delivery of its days: a quarter is what an operator reconciles at once. */
export const MAX_REPORT_DAYS = 92
/** Without `from`: the last week, today included. */
const DEFAULT_DAYS = 7
const DAY = /^\d{4}-\d{2}-\d{2}$/

/** `YYYY-MM-DD` → epoch ms of its UTC midnight, or undefined if it is not a real date. */
function dayStart(s: string): number | undefined {
  if (!DAY.test(s)) return undefined
  const t = Date.parse(`${s}T00:00:00Z`)
  return Number.isNaN(t) || utcDay(t) !== s ? undefined : t
}

/**
 * Whole UTC days `from`…`to` (both included) as a time range. `to` defaults to today, `from` to six days
 * before `to`. Errors name the field (`/from`, `/to`).
 */
export function dayRange(
  q: { from?: string; to?: string },
  now: number,
): { range: TimeRange } | { errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = []
  const to = q.to === undefined ? Math.floor(now / DAY_MS) * DAY_MS : dayStart(q.to)
  if (to === undefined) errors.push({ path: '/to', message: 'must be a date, YYYY-MM-DD' })
  const from = q.from === undefined ? (to ?? 0) - (DEFAULT_DAYS - 1) * DAY_MS : dayStart(q.from)
  if (from === undefined) errors.push({ path: '/from', message: 'must be a date, YYYY-MM-DD' })
  if (from === undefined || to === undefined) return { errors }
  if (from > to) return { errors: [{ path: '/from', message: 'must not be after to' }] }
  if ((to - from) / DAY_MS + 1 > MAX_REPORT_DAYS)
    return { errors: [{ path: '/from', message: `at most ${MAX_REPORT_DAYS} days per report` }] }
  return { range: { fromMs: from, toMs: to + DAY_MS } }
}

export async function reconciliationReport(store: Store, range: TimeRange): Promise<Reconciliation> {
  const [intake, deliveries] = await Promise.all([store.intakeTallies(range), store.deliveryTallies(range)])
  return reconcile(intake, deliveries, range)
}

export interface MatchRateReport {
  /** ISO times of the two windows. */
  current: { from: string; to: string }
  baseline: { from: string; to: string }
  drop: number
  min_deliveries: number
  checks: MatchRateCheck[]
}

/**
 * The match rate at `now`. `tallies` reads the deliveries (a `createTallyCache` keeps the settled hours
 * between the server's checks); by default the store, afresh.
 */
export async function matchRateReport(
  store: Pick<Store, 'deliveryTallies'>,
  cfg: MatchRateConfig,
  now: number,
  tallies: (range: TimeRange, now: number) => Promise<DeliveryTally[]> = (range) =>
    store.deliveryTallies(range),
): Promise<MatchRateReport> {
  const w = matchRateWindows(now, cfg)
  const checks = checkMatchRates(await tallies(w.all, now), w, cfg)
  const iso = (r: TimeRange) => ({
    from: new Date(r.fromMs).toISOString(),
    to: new Date(r.toMs).toISOString(),
  })
  return {
    current: iso(w.current),
    baseline: iso(w.baseline),
    drop: cfg.drop,
    min_deliveries: cfg.min_deliveries,
    checks,
  }
}
