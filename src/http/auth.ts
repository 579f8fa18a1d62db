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
  const candidate = header?.startsWith('Bearer ')
    ? header.slice(7).trim()
    : typeof req.headers['x-api-key'] === 'string'
      ? req.headers['x-api-key']
      : undefined
  if (!candidate) throw appError('E_AUTH_MISSING', 'missing API key (Authorization: Bearer <key>)')
  if (!matchesAny(candidate, keys)) throw appError('E_AUTH_INVALID', 'invalid API key')
}

/** Request headers as stored with a raw input: credentials and cookies removed. */
export function storableHeaders(headers: FastifyRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    out[k] = /^(authorization|cookie|x-api-key|proxy-authorization)$/i.test(k) ? '[redacted]' : String(v)
  }
  return out
}
