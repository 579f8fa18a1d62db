/**
 * The one place errors become HTTP responses:
 * `{ "error": { "code": "E_…", "message": "…", "details": [ { "path": "…", "message": "…" } ] } }`.
 * Fastify's own client errors (body too large, bad JSON, wrong media type) map to catalogue codes; anything
 * else is our fault: logged and answered 500 without internals.
 */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { type AppError, appError, type ErrorDetail, isAppError } from '../model/errors.ts'

export function errorBody(err: AppError) {
  return { error: { code: err.code, message: err.message, details: err.details as ErrorDetail[] } }
}

export function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err
  // the store is unreachable (PostgreSQL down): nothing was acknowledged, the sender retries
  if ((err as { code?: unknown })?.code === 'E_STORE_UNAVAILABLE')
    return appError('E_UNAVAILABLE', 'the store is unavailable; nothing was stored, retry', [], {
      'retry-after': '5',
    })
  const f = err as FastifyError
  switch (f?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return appError('E_BODY_TOO_LARGE')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return appError('E_MEDIA_TYPE', `unsupported content type`)
    case 'FST_ERR_BAD_URL':
      return appError('E_URL_INVALID')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return appError('E_URL_TOO_LONG')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return appError('E_BODY_INVALID', f.message)
  }
  if (f instanceof SyntaxError || f?.statusCode === 400)
    return appError('E_BODY_INVALID', `request body could not be parsed: ${String(f.message).slice(0, 200)}`)
  if (f?.statusCode === 404) return appError('E_NOT_FOUND')
  return appError('E_INTERNAL')
}

export function sendError(reply: FastifyReply, err: AppError) {
  if (err.headers) reply.headers(err.headers)
  return reply.code(err.status).send(errorBody(err))
}

/**
 * Errors Node's HTTP parser meets before any route runs (headers over the limit, a malformed request line, a
 * slow client): answered on the socket in the same shape as every other error, then the socket is closed, as
 * Node does by default. Fastify's default wrote a body of its own shape here.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const app = appError(
    err.code === 'HPE_HEADER_OVERFLOW'
      ? 'E_HEADERS_TOO_LARGE'
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'E_REQUEST_TIMEOUT'
        : 'E_HTTP_INVALID',
  )
  const body = JSON.stringify(errorBody(app))
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${app.status} ${STATUS_CODES[app.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  socket.destroy()
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply) {
  const app = toAppError(err)
  if (app.code === 'E_INTERNAL') req.log.error({ err }, 'unhandled error')
  return sendError(reply, app)
}
