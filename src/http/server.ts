/**
 * The HTTP server: fastify with raw-body capture (stored with every input, and needed for signatures),
 * one error renderer, body limits, and no per-request log lines on the hot path.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import { appError } from '../model/errors.ts'
import { errorHandler, sendError } from './errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received (UTF-8), for the raw-input record and signature checks. */
    rawBody?: string
  }
}

export function createServer(opts: {
  bodyLimit: number
  logger: Logger
  trustProxy: boolean
}): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: opts.trustProxy,
    // call platforms put ids in paths; keep routing strict and predictable
    routerOptions: { ignoreTrailingSlash: true },
    return503OnClosing: true,
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(
    ['application/json', 'application/x-www-form-urlencoded', 'text/plain'],
    { parseAs: 'string', bodyLimit: opts.bodyLimit },
    (req, body, done) => {
      const text = body as string
      req.rawBody = text
      const type = String(req.headers['content-type'] ?? '').toLowerCase()
      if (type.startsWith('application/x-www-form-urlencoded')) {
        done(null, Object.fromEntries(new URLSearchParams(text)))
        return
      }
      if (text.trim() === '') {
        done(null, undefined)
        return
      }
      try {
        done(null, JSON.parse(text))
      } catch (err) {
        done(
          appError(
            'E_BODY_INVALID',
            `request body is not valid JSON: ${(err as Error).message.slice(0, 160)}`,
            [{ path: '/', message: 'invalid JSON' }],
          ),
          undefined,
        )
      }
    },
  )
  // any other declared type is refused with 415 (fastify raises FST_ERR_CTP_INVALID_MEDIA_TYPE)
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((_req, reply) => sendError(reply, appError('E_NOT_FOUND', 'no such route')))
  return app
}
