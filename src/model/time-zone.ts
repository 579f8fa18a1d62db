/**
 * Calendar days in an IANA time zone, from the platform's own tz database (Intl): the days of a report in
 * the ad account's zone, the business hours of a call rule.
 *
 * @example
 *   localDay(Date.UTC(2026, 11, 6, 3), 'America/New_York') // '2026-12-05'
 *   localMidnight('2026-03-08', 'America/New_York')        // Date.UTC(2026, 2, 8, 5): that day has 23 hours
 */

/** One formatter per zone, by its canonical name: building one costs ~20 µs, formatting with it ~1. */
const formatters = new Map<string, Intl.DateTimeFormat>()
/**
 * Spellings seen → canonical name. IANA names match case-insensitively, so a client can send endless
 * spellings of one zone (`?tz=aMeRiCa/NeW_yOrK`); a formatter cached per spelling grew memory without bound
 * (~27 KB each), so spellings are bounded here and formatters are kept per real zone only.
 */
const spellings = new Map<string, string>()
const MAX_SPELLINGS = 1_000

/** The zone's canonical IANA name (`america/new_york` → `America/New_York`), or undefined if unknown. */
export function canonicalTimeZone(tz: string): string | undefined {
  const known = spellings.get(tz)
  if (known) return known
  let name: string
  try {
    name = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone
  } catch {
    return undefined
  }
  if (spellings.size >= MAX_SPELLINGS) spellings.clear()
  spellings.set(tz, name)
  return name
}

function partsFormatter(tz: string): Intl.DateTimeFormat {
  const name = canonicalTimeZone(tz)
  if (!name) throw new RangeError(`unknown time zone ${tz}`)
  let f = formatters.get(name)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    formatters.set(name, f)
  }
  return f
}

export const validTimeZone = (tz: string): boolean => canonicalTimeZone(tz) !== undefined

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
