/**
 * Inbound authentication. Secrets are compared in constant time over SHA-256 digests, so neither the
 * content nor the length of a key leaks through timing.
 */
import { hash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { appError } from '../model/errors.ts'

// one-shot: every authenticated request digests its key, and `createHash` cost ~0.5 µs more per call
const digest = (s: string) => hash('sha256', s, 'buffer')

export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b))
}

/** Digests of configured keys, computed once per key (the key list lives as long as the process). */
const keyDigests = new WeakMap<readonly string[], Buffer[]>()

/** Checks a candidate against every key without stopping early. */
export function matchesAny(candidate: string, keys: readonly string[]): boolean {
  let digests = keyDigests.get(keys)
  if (!digests) {
    digests = keys.map(digest)
    keyDigests.set(keys, digests)
  }
  const c = digest(candidate)
  let ok = false
  for (const d of digests) ok = timingSafeEqual(c, d) || ok
  return ok
}

/** `Authorization: Bearer <key>` (or `X-Api-Key`) against the configured API keys. */
export function requireApiKey(req: FastifyRequest, keys: readonly string[]): void {
  const header = req.headers.authorization
  // the scheme is case-insensitive (RFC 9110 §11.1): `bearer <key>` is the same credential
  const candidate = /^bearer /i.test(header ?? '')
    ? (header as string).slice(7).trim()
    : typeof req.headers['x-api-key'] === 'string'
      ? req.headers['x-api-key']
      : undefined
  if (!candidate) throw appError('E_AUTH_MISSING', 'missing API key (Authorization: Bearer <key>)')
  if (!matchesAny(candidate, keys)) throw appError('E_AUTH_INVALID', 'invalid API key')
}

/**
 * Headers that carry a credential: API keys, source tokens (`X-Closeloop-Token` or a source's own header),
 * signatures (a stored signature is a replayable one) and cookies.
 */
const CREDENTIAL_HEADER = /^(authorization|cookie|proxy-authorization)$|token|signature|secret|api-?key/i

/** Request headers as stored with a raw input: credentials and cookies redacted. */
export function storableHeaders(headers: FastifyRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    out[k] = CREDENTIAL_HEADER.test(k) ? '[redacted]' : String(v)
  }
  return out
}

// a source token given as a query or form parameter (postback sources' `token`)
const TOKEN_PARAM = /(^|[?&])(token=)[^&#]*/gi

/**
 * A request URL or form body as stored: a `token` parameter's value redacted.
 *
 * @example storableForm('/v1/sources/cc/postback?token=s3cret&call_id=CA1') // '…?token=[redacted]&call_id=CA1'
 */
export function storableForm(text: string): string {
  return text.replace(TOKEN_PARAM, '$1$2[redacted]')
}

// a source token given as a `token` member of a JSON body (a source reads it there too: common.ts
// presentedToken), with the body's own spacing and escapes
const TOKEN_MEMBER = /("token"\s*:\s*)"(?:[^"\\]|\\.)*"/g

/**
 * A JSON body as stored: every `"token"` member's value redacted, the rest as received.
 *
 * @example storableJson('{"token":"s3cret","call_id":"CA1"}') // '{"token":"[redacted]","call_id":"CA1"}'
 */
export function storableJson(text: string): string {
  return text.replace(TOKEN_MEMBER, '$1"[redacted]"')
}

/** What is kept of a refused request's body before it was authenticated: enough to see what it was. */
export const UNAUTHENTICATED_BODY_CHARS = 4096

/**
 * The body to store for a request refused before anyone was authenticated (401, 403, 404): its first 4 KiB
 * and a note of its size and hash. Anyone can send those, so storing them whole let anyone fill the disk
 * (1 MiB each) and, at retention, hand the redactor a body of their choosing.
 *
 * @example unauthenticatedBody('x'.repeat(10_000)) // 'xxxx…[truncated: 10000 bytes, sha256 …]'
 */
export function unauthenticatedBody(body: string): string {
  if (body.length <= UNAUTHENTICATED_BODY_CHARS) return body
  const bytes = Buffer.byteLength(body)
  const kept = body.slice(0, UNAUTHENTICATED_BODY_CHARS).toWellFormed()
  return `${kept}…[truncated: ${bytes} bytes, sha256 ${hash('sha256', body)}]`
}
