/**
 * Reports: the reconciliation of whole days and the match rate now (docs/observability.md).
 */
import { Type as T } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { appError } from '../../model/errors.ts'
import { validator } from '../../model/validate.ts'
import { reconciliationCsv } from '../../observe/render.ts'
import { dayRange, reconciliationReport } from '../../observe/report.ts'
import { requireApiKey } from '../auth.ts'
import type { HttpDeps } from '../deps.ts'
import { readQuery } from '../query.ts'

const Day = T.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}$',
  description: "a day of the report's zone, YYYY-MM-DD",
})
const ReconciliationQuery = T.Object(
  {
    from: T.Optional(Day),
    to: T.Optional(Day),
    format: T.Optional(T.Union([T.Literal('json'), T.Literal('csv')])),
    tz: T.Optional(T.String({ minLength: 1, maxLength: 64, description: 'IANA time zone of the days' })),
  },
  { additionalProperties: false },
)
const checkReconciliation = validator(ReconciliationQuery)
const checkNothing = validator(T.Object({}, { additionalProperties: false }))

export function registerReportRoutes(app: FastifyInstance, deps: HttpDeps) {
  app.get('/v1/reports/reconciliation', async function reconciliation(req, reply) {
    requireApiKey(req, deps.apiKeys)
    const q = readQuery(req, checkReconciliation)
    const asked = dayRange(q, Date.now(), q.tz ?? deps.config.observe.timezone)
    if ('errors' in asked)
      throw appError(
        'E_INPUT_INVALID',
        'invalid query',
        asked.errors.map((e) => ({ ...e, path: `/query${e.path}` })),
      )
    const report = await reconciliationReport(deps.store, asked.days)
    if (q.format !== 'csv') return report
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="closeloop-${report.from}-${report.to}.csv"`)
      .send(reconciliationCsv(report))
  })

  app.get('/v1/reports/match-rate', async function matchRate(req) {
    requireApiKey(req, deps.apiKeys)
    readQuery(req, checkNothing)
    return deps.matchRate(Date.now())
  })
}
