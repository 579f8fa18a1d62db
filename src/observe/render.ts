/**
 * The reports as text: an aligned table for a terminal (`closeloop report`) and CSV for a spreadsheet
 * (`closeloop report --format csv`, `GET /v1/reports/reconciliation?format=csv`).
 */

import type { ConversionRow, Reconciliation } from './reconcile.ts'
import type { MatchRateReport } from './report.ts'

const NONE = '(none)'
const money = (n: number) => (Math.round(n * 100) / 100).toString()
const pct = (matched: number, reported: number) =>
  reported === 0 ? '' : `${Math.round((matched / reported) * 1000) / 10}%`

/**
 * The columns of a conversion row, in order, as CSV and the table print them: a name, the cell, and whether
 * the cell is text (campaign and signal names come from the events a client sent).
 */
const CONVERSION_COLUMNS: Array<[string, (r: ConversionRow) => string, 'text'?]> = [
  ['day', (r) => r.day],
  ['campaign', (r) => r.campaign ?? NONE, 'text'],
  ['signal', (r) => r.signal, 'text'],
  ['signals', (r) => String(r.signals)],
  ['value', (r) => money(r.value)],
  ['currency', (r) => r.currency, 'text'],
  ['destination', (r) => r.destination ?? NONE, 'text'],
  ['delivered', (r) => String(r.delivered)],
  ['pending', (r) => String(r.pending)],
  ['dead', (r) => String(r.dead)],
  ['skipped', (r) => String(r.skipped)],
  ['delivered_value', (r) => money(r.deliveredValue)],
  ['match_rate', (r) => pct(r.matched, r.reported)],
]

/**
 * RFC 4180: quoted when it holds a comma, quote or line break. A text cell that begins like a formula
 * (`=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'` so a spreadsheet shows it as text,
 * whatever follows (`-2+3+cmd|…` too); numbers are closeloop's own and left as they are.
 */
function csvCell(s: string, text: boolean): string {
  const safe = text && /^[=+\-@\t\r]/.test(s) ? `'${s}` : s
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe
}

/** One CSV line per conversion row, with a header. */
export function reconciliationCsv(r: Reconciliation): string {
  const lines = [CONVERSION_COLUMNS.map(([h]) => h).join(',')]
  for (const row of r.conversions)
    lines.push(CONVERSION_COLUMNS.map(([, f, kind]) => csvCell(f(row), kind === 'text')).join(','))
  return `${lines.join('\r\n')}\r\n`
}

/** A cell for a terminal: control characters (escape sequences in a campaign name) shown, not obeyed. */
const printable = (s: string) =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)

function table(header: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map(printable))
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/** Both reports for a terminal. */
export function reportText(r: Reconciliation, m: MatchRateReport): string {
  const out = [
    `Reconciliation ${r.from} … ${r.to} (days in ${r.timezone}, by when closeloop received the input)`,
    '',
  ]
  out.push('Intake')
  out.push(
    r.intake.length
      ? table(
          ['day', 'campaign', 'source', 'accepted', 'duplicate'],
          r.intake.map((i) => [i.day, i.campaign ?? NONE, i.source, String(i.accepted), String(i.duplicate)]),
        )
      : '(no events)',
  )
  out.push('', 'Conversions')
  out.push(
    r.conversions.length
      ? table(
          CONVERSION_COLUMNS.map(([h]) => h),
          r.conversions.map((row) => CONVERSION_COLUMNS.map(([, f]) => f(row))),
        )
      : '(no signals)',
  )
  out.push(
    '',
    `Match rate: ${m.current.from} … ${m.current.to} against ${m.baseline.from} … ${m.baseline.to}`,
  )
  out.push(
    m.checks.length
      ? table(
          ['campaign', 'destination', 'current', 'delivered', 'baseline', 'delivered', 'alert'],
          m.checks.map((c) => [
            c.campaign ?? NONE,
            c.destination,
            pct(c.current.matched, c.current.reported),
            String(c.current.reported),
            pct(c.baseline.matched, c.baseline.reported),
            String(c.baseline.reported),
            c.alert ? `DROP ≥ ${Math.round(m.drop * 100)} points` : '',
          ]),
        )
      : '(no deliveries to destinations that report match keys)',
  )
  return `${out.join('\n')}\n`
}
