/**
 * The HTTP server: fastify with raw-body capture (stored with every input, and needed for signatures),
 * one error renderer, body limits, and no per-request log lines on the hot path.
 */
import { parse as parseQueryString } from 'node:querystring'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import { appError } from '../model/errors.ts'
import { clientErrorHandler, errorHandler, sendError, toAppError } from './errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received (UTF-8), for the raw-input record and signature checks. */
    rawBody?: string
  }
}

/**
 * Objects and arrays nested deeper than this are refused. An ECAPI batch needs about 7 levels, a call
 * platform's webhook fewer; at ~5,000 levels `JSON.stringify` of the stored event threw (a 500 inside a
 * 1 MiB body), and retention's redaction stops at 64 levels anyway.
 */
export const MAX_NESTING = 64

/**
 * Whether JSON text nests objects and arrays deeper than `max`, counting brackets outside strings. A text of
 * at most 2 × `max` characters cannot, so the usual small body is not scanned.
 *
 * @example nestedDeeperThan('[[[1]]]', 2) // true
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  if (text.length <= 2 * max) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // a backslash escapes the next character, a quote included
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

/**
 * `\u0000` or `\uD800`–`\uDFFF` in JSON text: a NUL, or a surrogate that may stand alone, neither of which
 * decoding UTF-8 bytes gives a string (see `cleanStrings`).
 */
const UNCLEAN_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/
const jsonMayBeUnclean = (text: string) => text.includes('\\u') && UNCLEAN_ESCAPE.test(text)
/** `%00` (or a raw NUL) in a form body or query string. */
const formMayBeUnclean = (text: string) => text.includes('%00') || text.includes('\0')

/** A string as closeloop keeps it: unpaired surrogates and NULs replaced by U+FFFD. */
function cleanString(s: string): string {
  const w = s.isWellFormed() ? s : s.toWellFormed()
  return w.includes('\0') ? w.replaceAll('\0', '\uFFFD') : w
}

/**
 * The parsed input with every unpaired surrogate and NUL, in values and keys, replaced by U+FFFD, as
 * undecodable bytes are. Such strings behaved differently per store: PostgreSQL's jsonb refuses a lone
 * surrogate and text cannot hold a NUL (stored as U+FFFD there, as-is in SQLite), so a resent event whose
 * `data_set_id` held a NUL no longer matched its own dedup key on PostgreSQL and was answered 503 forever;
 * and a platform may reject the whole batch a lone surrogate travels in. Iterative, so no nesting depth
 * overflows the stack.
 *
 * @example
 *   cleanStrings(JSON.parse('{"city":"New York\\ud800","id":"a\\u0000"}')) // { city: 'New York\uFFFD', id: 'a\uFFFD' }
 */
export function cleanStrings(input: unknown): unknown {
  // defined rather than assigned: JSON.parse made every key an own data property, `__proto__` included
  const define = (o: object, key: string, value: unknown) =>
    Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true })
  const root = { input }
  const stack: object[] = [root]
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    for (const [key, v] of Object.entries(node)) {
      if (typeof v === 'object' && v !== null) stack.push(v)
      else if (typeof v === 'string') {
        const clean = cleanString(v)
        if (clean !== v) define(node, key, clean)
      }
      const cleanKey = cleanString(key)
      if (cleanKey !== key) {
        define(node, cleanKey, (node as Record<string, unknown>)[key])
        delete (node as Record<string, unknown>)[key]
      }
    }
  }
  return root.input
}

/** Query strings parsed as fastify does, with NULs cleaned as in bodies (a postback's `call_id=CA%00`). */
function parseQuery(text: string): Record<string, unknown> {
  const q = parseQueryString(text)
  return formMayBeUnclean(text) ? (cleanStrings(q) as Record<string, unknown>) : q
}

export function createServer(opts: {
  bodyLimit: number
  logger: Logger
  trustProxy: boolean | number | string[]
}): FastifyInstance {
  const trust = opts.trustProxy
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    // a hop count trusts that many proxies nearest the socket (fastify's types have no number form)
    trustProxy: typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : trust,
    // call platforms put ids in paths; keep routing strict and predictable
    routerOptions: { ignoreTrailingSlash: true, querystringParser: parseQuery },
    return503OnClosing: true,
    // URLs the router cannot decode, and over-long path segments, answer in the catalogue's shape
    frameworkErrors: (err, _req, reply) => sendError(reply, toAppError(err)),
    clientErrorHandler,
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
        const form = Object.fromEntries(new URLSearchParams(text))
        done(null, formMayBeUnclean(text) ? cleanStrings(form) : form)
        return
      }
      if (text.trim() === '') {
        done(null, undefined)
        return
      }
      if (nestedDeeperThan(text, MAX_NESTING)) {
        done(
          appError('E_BODY_INVALID', `request body is nested deeper than ${MAX_NESTING} levels`, [
            { path: '/', message: `at most ${MAX_NESTING} levels of objects and arrays` },
          ]),
          undefined,
        )
        return
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch (err) {
        done(
          appError(
            'E_BODY_INVALID',
            `request body is not valid JSON: ${(err as Error).message.slice(0, 160)}`,
            [{ path: '/', message: 'invalid JSON' }],
          ),
          undefined,
        )
        return
      }
      done(null, jsonMayBeUnclean(text) ? cleanStrings(parsed) : parsed)
    },
  )
  // any other declared type is refused with 415 (fastify raises FST_ERR_CTP_INVALID_MEDIA_TYPE)
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((_req, reply) => sendError(reply, appError('E_NOT_FOUND', 'no such route')))
  return app
}
