/** Query strings validated like bodies: a 400 `E_INPUT_INVALID` whose paths start with `/query`. */
import type { FastifyRequest } from 'fastify'
import { appError, type ErrorDetail } from '../model/errors.ts'

export function readQuery(
  req: FastifyRequest,
  check: (value: unknown) => ErrorDetail[],
): Record<string, string> {
  const q = req.query as Record<string, string>
  const errors = check(q)
  if (errors.length)
    throw appError(
      'E_INPUT_INVALID',
      'invalid query',
      errors.map((e) => ({ ...e, path: `/query${e.path}` })),
    )
  return q
}
