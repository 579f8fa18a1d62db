/**
 * Calendar days in an IANA time zone, from the platform's own tz database (Intl): the days of a report in
 * the ad account's zone, the business hours of a call rule.
 *
 * @example
 *   localDay(Date.UTC(2026, 11, 6, 3), 'America/New_York') // '2026-12-05'
 *   localMidnight('2026-03-08', 'America/New_York')        // Date.UTC(2026, 2, 8, 5): that day has 23 hours
 */

const formatters = new Map<string, Intl.DateTimeFormat>()

/** One formatter per zone: building one costs ~20 µs, formatting with it ~1. */
function partsFormatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    formatters.set(tz, f)
  }
  return f
}

export function validTimeZone(tz: string): boolean {
  try {
    partsFormatter(tz)
    return true
  } catch {
    return false
  }
}

/** The wall clock in `tz` at `ms` (second precision; fields zero-padded) and the zone's offset then. */
export interface WallClock {
  year: string
  month: string
  day: string
  hour: string
  minute: string
  second: string
  /** Minutes east of UTC (New York in winter: -300). */
  offsetMin: number
}

export function wallClock(ms: number, tz: string): WallClock {
  const p = Object.fromEntries(
    partsFormatter(tz)
      .formatToParts(new Date(ms))
      .map((x) => [x.type, x.value]),
  )
  const asUtc = Date.UTC(
    Number(p.year),
    Number(p.month) - 1,
    Number(p.day),
    Number(p.hour),
    Number(p.minute),
    Number(p.second),
  )
  return {
    year: p.year.padStart(4, '0'),
    month: p.month,
    day: p.day,
    hour: p.hour,
    minute: p.minute,
    second: p.second,
    offsetMin: Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60_000),
  }
}

/** `YYYY-MM-DD` in `tz` at epoch ms. */
export function localDay(ms: number, tz: string): string {
  const w = wallClock(ms, tz)
  return `${w.year}-${w.month}-${w.day}`
}

/** The zone's offset from UTC at `ms`, in minutes (New York in winter: -300). */
export const offsetMinutes = (ms: number, tz: string): number => wallClock(ms, tz).offsetMin

/** Epoch ms of the first instant of `day` (`YYYY-MM-DD`) in `tz`. */
export function localMidnight(day: string, tz: string): number {
  const [y, m, d] = day.split('-').map(Number)
  const naive = Date.UTC(y, m - 1, d)
  // the offset an instant near that midnight has; once more, in case the guess crossed a DST change
  let t = naive - offsetMinutes(naive, tz) * 60_000
  t = naive - offsetMinutes(t, tz) * 60_000
  // a zone whose clocks skip midnight itself (a DST change at 00:00) starts that day at the first instant after
  return localDay(t, tz) === day ? t : t + 3_600_000
}
