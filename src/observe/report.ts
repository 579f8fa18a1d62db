/**
 * What `closeloop report`, `GET /v1/reports/reconciliation` and `GET /v1/reports/match-rate` answer,
 * read from the store: the reconciliation of whole days in a time zone, and the match rate of each campaign
 * and destination now against its baseline.
 *
 * @example
 *   const r = dayRange({ from: '2026-12-01', to: '2026-12-06' }, Date.now(), 'America/New_York')
 *   if ('days' in r) console.log(await reconciliationReport(store, r.days))
 */
import type { ErrorDetail } from '../model/errors.ts'
import { canonicalTimeZone, localDay, localMidnight } from '../model/time-zone.ts'
import type {
  DeliveryTally,
  EventTally,
  SignalTally,
  Store,
  TallyBuckets,
  TimeRange,
} from '../store/types.ts'
import { checkMatchRates, type MatchRateCheck, type MatchRateConfig, matchRateWindows } from './match-rate.ts'
import { type Reconciliation, reconcile } from './reconcile.ts'

const DAY_MS = 86_400_000
/** A report reads every delivery of its days: a quarter is what an operator reconciles at once. */
export const MAX_REPORT_DAYS = 92
/** Without `from`: the last week, today included. */
const DEFAULT_DAYS = 7
const DAY = /^\d{4}-\d{2}-\d{2}$/

/** The days of a report: `from`…`to` (both included) in `timezone`, and the instants they span. */
export interface ReportDays {
  from: string
  to: string
  timezone: string
  range: TimeRange
}

/** `YYYY-MM-DD` plus `n` calendar days. */
const addDays = (day: string, n: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10)
/** A calendar day from 1970 to 9998: two-digit years and 9999's last day made nonsense of the range. */
const realDay = (s: string) =>
  DAY.test(s) &&
  s >= '1970-01-01' &&
  s <= '9998-12-31' &&
  !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) &&
  addDays(s, 0) === s

/**
 * Whole days `from`…`to` (both included) in the IANA zone `timezone`. `to` defaults to today there, `from`
 * to six days before `to`. Errors name the field (`/from`, `/to`, `/tz`).
 */
export function dayRange(
  q: { from?: string; to?: string },
  now: number,
  timezone = 'UTC',
): { days: ReportDays } | { errors: ErrorDetail[] } {
  const zone = canonicalTimeZone(timezone)
  if (!zone) return { errors: [{ path: '/tz', message: 'must be an IANA time zone' }] }
  const errors: ErrorDetail[] = []
  const to = q.to ?? localDay(now, zone)
  if (!realDay(to)) errors.push({ path: '/to', message: 'must be a date, YYYY-MM-DD' })
  const from = q.from ?? (realDay(to) ? addDays(to, 1 - DEFAULT_DAYS) : '')
  if (q.from !== undefined && !realDay(from))
    errors.push({ path: '/from', message: 'must be a date, YYYY-MM-DD' })
  if (errors.length) return { errors }
  if (from > to) return { errors: [{ path: '/from', message: 'must not be after to' }] }
  if (Date.parse(to) - Date.parse(from) >= MAX_REPORT_DAYS * DAY_MS)
    return { errors: [{ path: '/from', message: `at most ${MAX_REPORT_DAYS} days per report` }] }
  const range = { fromMs: localMidnight(from, zone), toMs: localMidnight(addDays(to, 1), zone) }
  return { days: { from, to, timezone: zone, range } }
}

/**
 * The reads of a report, each with buckets that are its days: runs of 24-hour days as day-long buckets from
 * their first midnight, and a day that DST makes 23 or 25 hours long as one bucket of its own.
 */
export function daySegments(days: ReportDays): Array<{ range: TimeRange; buckets: TallyBuckets }> {
  const out: Array<{ range: TimeRange; buckets: TallyBuckets }> = []
  for (let day = days.from; day <= days.to; day = addDays(day, 1)) {
    const start = localMidnight(day, days.timezone)
    const end = localMidnight(addDays(day, 1), days.timezone)
    const last = out.at(-1)
    if (end - start === DAY_MS && last?.buckets.ms === DAY_MS && last.range.toMs === start)
      last.range.toMs = end
    else out.push({ range: { fromMs: start, toMs: end }, buckets: { ms: end - start, startMs: start } })
  }
  return out
}

export async function reconciliationReport(store: Store, days: ReportDays): Promise<Reconciliation> {
  // one read at a time: a report holds one PostgreSQL connection (or the SQLite reader), not six
  const events: EventTally[] = []
  const signals: SignalTally[] = []
  const deliveries: DeliveryTally[] = []
  for (const { range, buckets } of daySegments(days)) {
    const intake = await store.intakeTallies(range, buckets)
    events.push(...intake.events)
    signals.push(...intake.signals)
    deliveries.push(...(await store.deliveryTallies(range, buckets)))
  }
  return reconcile({ events, signals }, deliveries, days)
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
