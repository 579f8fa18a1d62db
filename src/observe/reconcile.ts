/**
 * The reconciliation report: per day and campaign, what came in (events by source, duplicates) and,
 * per signal and destination, what was derived and what each destination got — delivered, still pending,
 * dead, skipped — with the values and the match rate. Each signal routed to a destination is in exactly
 * one of those states there, so the pending and dead columns are what a platform has not received, and the
 * delivered value is the figure to hold against the platform's own conversion report. Signals no route
 * sent anywhere have a row of their own.
 *
 * Days are those of a time zone (`observe.timezone`, UTC by default: best the ad accounts' zone, so that
 * the days match their reports) and group rows by when closeloop created them (the ingest, or the timer
 * that fired), not by the conversion's time. Values are summed per currency; `XXX` (ISO 4217's "no
 * currency") when a signal has none.
 *
 * @example
 *   const r = await reconciliationReport(store, days) // report.ts: the tallies of each day, then this
 *   r.conversions.filter((c) => c.dead > 0)
 */
import { localDay } from '../model/time-zone.ts'
import type { DeliveryTally, EventTally, SignalTally } from '../store/types.ts'

export interface IntakeRow {
  day: string
  campaign: string | null
  source: string
  accepted: number
  duplicate: number
}

export interface ConversionRow {
  day: string
  campaign: string | null
  signal: string
  currency: string
  /**
   * Signals derived, and their value; on the `destination: null` row, those no route sent anywhere. A
   * destination's delivered + pending + dead + skipped are the signals routed to it, fewer than `signals`
   * where a route's `when:` left some out.
   */
  signals: number
  value: number
  /** null: the signals no route sent anywhere. */
  destination: string | null
  delivered: number
  /** Pending or in flight. */
  pending: number
  dead: number
  /** Not sent on purpose (consent withheld). */
  skipped: number
  deliveredValue: number
  /** Delivered with match keys reported, and of those with at least one: the match rate's parts. */
  reported: number
  matched: number
}

export interface Reconciliation {
  from: string
  to: string
  /** The IANA zone of the days. */
  timezone: string
  intake: IntakeRow[]
  conversions: ConversionRow[]
}

/** A conversion row's delivery columns before any delivery is counted in. */
const NOTHING_SENT = {
  delivered: 0,
  pending: 0,
  dead: 0,
  skipped: 0,
  deliveredValue: 0,
  reported: 0,
  matched: 0,
} as const satisfies Partial<ConversionRow>

/** Rows sort by day, then campaign (none last), then the rest of the key. */
const keyOf = (...parts: Array<string | null>) => JSON.stringify(parts)
function byDayCampaign<T extends { day: string; campaign: string | null }>(rest: (r: T) => string) {
  return (a: T, b: T) =>
    a.day.localeCompare(b.day) ||
    (a.campaign === b.campaign
      ? rest(a).localeCompare(rest(b))
      : a.campaign === null
        ? 1
        : b.campaign === null
          ? -1
          : a.campaign.localeCompare(b.campaign))
}

/**
 * The rows of `days` from tallies whose buckets are those days (`daySegments`): a bucket's start is its
 * day's midnight in `days.timezone`.
 */
export function reconcile(
  intake: { events: EventTally[]; signals: SignalTally[] },
  deliveries: DeliveryTally[],
  days: { from: string; to: string; timezone: string },
): Reconciliation {
  const dayOf = (t: { hour: number }) => localDay(t.hour, days.timezone)
  const sources = new Map<string, IntakeRow>()
  for (const e of intake.events) {
    const day = dayOf(e)
    const k = keyOf(day, e.campaign, e.source)
    let row = sources.get(k)
    if (!row) {
      row = { day, campaign: e.campaign, source: e.source, accepted: 0, duplicate: 0 }
      sources.set(k, row)
    }
    row[e.status] += e.events
  }

  /** Signals derived per day, campaign, name and currency, and those no route sent anywhere. */
  type Derived = Pick<ConversionRow, 'day' | 'campaign' | 'signal' | 'currency' | 'signals' | 'value'> & {
    unrouted: number
    unroutedValue: number
  }
  const derived = new Map<string, Derived>()
  for (const s of intake.signals) {
    const day = dayOf(s)
    const currency = s.currency ?? 'XXX'
    const k = keyOf(day, s.campaign, s.signal, currency)
    let d = derived.get(k)
    if (!d) {
      d = {
        day,
        campaign: s.campaign,
        signal: s.signal,
        currency,
        signals: 0,
        value: 0,
        unrouted: 0,
        unroutedValue: 0,
      }
      derived.set(k, d)
    }
    d.signals += s.signals
    d.value += s.value
    d.unrouted += s.unrouted
    d.unroutedValue += s.unroutedValue
  }

  const rows = new Map<string, ConversionRow>()
  for (const t of deliveries) {
    const day = dayOf(t)
    const currency = t.currency ?? 'XXX'
    const signalKey = keyOf(day, t.campaign, t.signal, currency)
    const k = keyOf(day, t.campaign, t.signal, currency, t.destination)
    let row = rows.get(k)
    if (!row) {
      const d = derived.get(signalKey)
      row = {
        day,
        campaign: t.campaign,
        signal: t.signal,
        currency,
        signals: d?.signals ?? 0,
        value: d?.value ?? 0,
        destination: t.destination,
        ...NOTHING_SENT,
      }
      rows.set(k, row)
    }
    if (t.status === 'delivered') {
      row.delivered += t.deliveries
      row.deliveredValue += t.value
    } else if (t.status === 'pending' || t.status === 'in_flight') row.pending += t.deliveries
    else row[t.status] += t.deliveries
    row.reported += t.reported
    row.matched += t.matched
  }
  // signals a conditional route (`when:`) or no route at all sent nowhere: a row of their own
  for (const d of derived.values()) {
    if (d.unrouted === 0) continue
    const { day, campaign, signal, currency } = d
    rows.set(keyOf(day, campaign, signal, currency, null), {
      day,
      campaign,
      signal,
      currency,
      signals: d.unrouted,
      value: d.unroutedValue,
      destination: null,
      ...NOTHING_SENT,
    })
  }

  return {
    from: days.from,
    to: days.to,
    timezone: days.timezone,
    intake: [...sources.values()].sort(byDayCampaign((r) => r.source)),
    conversions: [...rows.values()].sort(
      byDayCampaign((r) => `${r.signal}\u0000${r.currency}\u0000${r.destination ?? '\uffff'}`),
    ),
  }
}
