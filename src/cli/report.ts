/**
 * `closeloop report`: the reconciliation of whole days (in `observe.timezone`, or `--tz`) and the match rate
 * now, read from the store the config names (a running server may keep writing meanwhile). It changes
 * nothing: it refuses a SQLite path that holds no database, and a database whose migrations are behind
 * this build.
 *
 * @example
 *   closeloop report --config closeloop.yaml --from 2026-12-01 --to 2026-12-06 --format csv > december.csv
 *   closeloop report --config closeloop.yaml --tz America/New_York   # days of that zone (default observe.timezone)
 */
import type { ResolvedConfig } from '../config/load.ts'
import { reconciliationCsv, reportText } from '../observe/render.ts'
import { dayRange, matchRateReport, reconciliationReport } from '../observe/report.ts'
import { openExistingStore } from './store.ts'

export type ReportFormat = 'table' | 'json' | 'csv'

export async function report(
  config: ResolvedConfig,
  opts: { from?: string; to?: string; format?: string; tz?: string },
  now = Date.now(),
): Promise<string> {
  const format = (opts.format ?? 'table') as ReportFormat
  if (!['table', 'json', 'csv'].includes(format)) throw new Error('--format must be table, json or csv')
  const asked = dayRange(opts, now, opts.tz ?? config.observe.timezone)
  if ('errors' in asked)
    throw new Error(asked.errors.map((e) => `--${e.path.slice(1)} ${e.message}`).join('; '))
  const store = await openExistingStore(config)
  try {
    const reconciliation = await reconciliationReport(store, asked.days)
    if (format === 'csv') return reconciliationCsv(reconciliation)
    const matchRate = await matchRateReport(store, config.observe.match_rate, now)
    if (format === 'json') return `${JSON.stringify({ reconciliation, match_rate: matchRate }, null, 2)}\n`
    return reportText(reconciliation, matchRate)
  } finally {
    await store.close()
  }
}
