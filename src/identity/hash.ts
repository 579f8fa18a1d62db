/**
 * SHA-256 as every platform wants it: lowercase hex of the UTF-8 normalized string. The one-shot
 * `crypto.hash` (strings are hashed as UTF-8) took 0.35 µs per short value against 0.8–1.0 µs for
 * `createHash().update().digest()`, and a conversion hashes up to a dozen values.
 */
import { hash } from 'node:crypto'

export const sha256Hex = (normalized: string): string => hash('sha256', normalized, 'hex')

const HEX64 = /^[0-9a-f]{64}$/i

/** A value that already is a SHA-256 hex digest passes through unchanged (lowercased). */
export const isSha256 = (value: string): boolean => HEX64.test(value)

/** Hash a value after `normalize`, unless it already is a hash; empty after normalization → undefined. */
export function hashWith(normalize: (raw: string) => string, raw: string | undefined): string | undefined {
  if (raw === undefined || raw === null) return undefined
  const trimmed = String(raw).trim()
  if (trimmed === '') return undefined
  if (isSha256(trimmed)) return trimmed.toLowerCase()
  const n = normalize(trimmed)
  return n === '' ? undefined : sha256Hex(n)
}

/**
 * A phone number (or other identifier) as it may appear in a lookup key: a SHA-256 prefix, so keys, aliases
 * and facts never hold raw PII (retention and deletion then only have to scrub values, not keys). 128 bits
 * keep collisions out of reach for any realistic number of callers.
 *
 * @example identityKey('+12125550000') // '7c8d08bf90ca322bcac37f99ba14e980'
 */
export const identityKey = (value: string): string => sha256Hex(value).slice(0, 32)
