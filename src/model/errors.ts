/**
 * The one catalogue of coded errors. Clients and tests match on `code`, never on the message.
 * `AppError` is the only HTTP error type; `src/http/errors.ts` renders it in one place.
 *
 * @example
 *   throw appError('E_EVENT_INVALID', 'event is invalid', [{ path: '/timestamp', message: 'required' }])
 */

export const ERRORS = {
  E_AUTH_MISSING: { status: 401, message: 'missing credentials' },
  E_AUTH_INVALID: { status: 401, message: 'invalid credentials' },
  E_SOURCE_SIGNATURE: { status: 401, message: 'signature check failed' },
  E_SOURCE_IP: { status: 403, message: 'source address not allowed' },
  E_SOURCE_UNKNOWN: { status: 404, message: 'no such source' },
  E_SOURCE_TYPE: { status: 404, message: 'source does not accept this kind of request' },
  E_NOT_FOUND: { status: 404, message: 'not found' },
  E_HTTP_INVALID: { status: 400, message: 'malformed HTTP request' },
  E_URL_INVALID: { status: 400, message: 'request URL could not be decoded' },
  E_URL_TOO_LONG: { status: 414, message: 'a path segment is too long' },
  E_HEADERS_TOO_LARGE: { status: 431, message: 'request headers too large' },
  E_REQUEST_TIMEOUT: { status: 408, message: 'request not received in time' },
  E_BODY_INVALID: { status: 400, message: 'request body could not be parsed' },
  E_BODY_TOO_LARGE: { status: 413, message: 'request body too large' },
  E_MEDIA_TYPE: { status: 415, message: 'unsupported content type' },
  E_BATCH_TOO_LARGE: { status: 413, message: 'too many events in one request' },
  E_EVENT_INVALID: { status: 400, message: 'event is invalid' },
  E_INPUT_INVALID: { status: 400, message: 'input is invalid' },
  E_RATE_LIMITED: { status: 429, message: 'rate limited' },
  E_UNAVAILABLE: { status: 503, message: 'temporarily unavailable, retry' },
  E_INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERRORS

export interface ErrorDetail {
  /** JSON pointer into the input, e.g. `/events/3/user_data/email_address` */
  path: string
  message: string
}

export interface AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details: ErrorDetail[]
  readonly headers?: Record<string, string>
}

export function appError(
  code: ErrorCode,
  message?: string,
  details: ErrorDetail[] = [],
  headers?: Record<string, string>,
): AppError {
  const err = new Error(message ?? ERRORS[code].message) as Error & {
    code: ErrorCode
    status: number
    details: ErrorDetail[]
    headers?: Record<string, string>
  }
  err.name = 'AppError'
  err.code = code
  err.status = ERRORS[code].status
  err.details = details
  if (headers) err.headers = headers
  return err
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof Error && err.name === 'AppError' && 'code' in err
}
