/**
 * Privacy operations: subject deletion (`POST /v1/subjects/delete`) and the audit log (`GET /v1/audit`).
 * Deletion scrubs every stored record of one person, raw bodies included, in every format a phone or email
 * may take there, and records who asked in the audit log under a hash of the subject, never the value.
 * docs/privacy.md describes what is kept and for how long.
 */
import { Type as T } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { appError } from '../../model/errors.ts'
import { validator } from '../../model/validate.ts'
import { auditSubject, subjectOf } from '../../privacy/redact.ts'
import { requireApiKey, safeEqual } from '../auth.ts'
import type { HttpDeps } from '../deps.ts'
import { readQuery } from '../query.ts'

const DeleteBody = T.Object(
  {
    email: T.Optional(T.String({ minLength: 3, maxLength: 512 })),
    phone: T.Optional(T.String({ minLength: 3, maxLength: 64 })),
  },
  { additionalProperties: false },
)
const checkDelete = validator(DeleteBody)

const AuditQuery = T.Object(
  {
    limit: T.Optional(T.String({ pattern: '^[1-9][0-9]{0,3}$' })),
    before: T.Optional(T.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
)
const checkAudit = validator(AuditQuery)

/** The name of the API key the request presented (it was already checked): the audit log's actor. */
function actorOf(req: FastifyRequest, deps: HttpDeps): string {
  const header = req.headers.authorization
  const candidate = header?.startsWith('Bearer ')
    ? header.slice(7).trim()
    : typeof req.headers['x-api-key'] === 'string'
      ? req.headers['x-api-key']
      : ''
  let name = 'api'
  // every key is compared, as requireApiKey does: no early exit to time
  for (const k of deps.config.api_keys) if (safeEqual(candidate, k.key)) name = k.name
  return name
}

export function registerPrivacyRoutes(app: FastifyInstance, deps: HttpDeps) {
  app.post('/v1/subjects/delete', async function deleteSubject(req) {
    requireApiKey(req, deps.apiKeys)
    const body = req.body
    const errors = checkDelete(body)
    if (errors.length) throw appError('E_INPUT_INVALID', 'invalid subject', errors)
    const subject = subjectOf(body as { email?: string; phone?: string }, deps.callRules.defaultRegion)
    if (Array.isArray(subject)) throw appError('E_INPUT_INVALID', 'invalid subject', subject)
    const res = await deps.store.forgetSubject(
      {
        needles: { emails: subject.emails, phones: subject.phones },
        hashes: subject.hashes,
        subject: auditSubject(subject),
        actor: actorOf(req, deps),
        region: deps.callRules.defaultRegion,
      },
      Date.now(),
    )
    deps.log.info({ audit_id: res.auditId, deleted: res.deleted }, 'subject deleted')
    return { deleted: res.deleted, audit_id: res.auditId }
  })

  app.get('/v1/audit', async function listAudit(req) {
    requireApiKey(req, deps.apiKeys)
    const q = readQuery(req, checkAudit)
    const limit = Math.min(Number(q.limit ?? 100), 1000)
    const entries = await deps.store.listAudit({ limit, before: q.before })
    return { entries, next: entries.length === limit ? entries[entries.length - 1].id : null }
  })
}
