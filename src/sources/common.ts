/**
 * Helpers every inbound source shares: reading untrusted values without throwing, the IP allowlist,
 * presented tokens and HMAC checks, time and money parsing, and the disposition → ECAPI event type default.
 *
 * Everything here is pure and total: hostile input (arrays where strings were expected, nested objects,
 * megabyte strings) yields `undefined` or an `AppError`, never a TypeError.
 *
 * @example
 *   checkSourceIp('203.0.113.9', ['203.0.113.0/24']) // passes
 *   parseEpochSeconds('Sun, 25 Mar 2018 09:53:19 +0000') // 1521971599
 */
import { createHmac } from 'node:crypto'
import { BlockList, isIP } from 'node:net'
import { safeEqual } from '../http/auth.ts'
import { toE164 } from '../identity/phone.ts'
import { EPOCH_S_MAX } from '../model/call.ts'
import type { EventType } from '../model/ecapi.ts'
import { type AppError, appError } from '../model/errors.ts'
import type { SourceRequest } from './contract.ts'

export type Obj = Record<string, unknown>

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A 400 naming the field that was wrong, e.g. `invalid('/CallSid', 'required')`. */
export const invalid = (path: string, message: string): AppError =>
  appError('E_INPUT_INVALID', `${path}: ${message}`, [{ path, message }])

/** JSON pointer segment escaping (RFC 6901), so a key like `a/b` still names one field. */
export const pointer = (...segments: string[]): string =>
  `/${segments.map((s) => s.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`

/**
 * A scalar as a trimmed string; objects, arrays and empty strings are "absent".
 * @example scalarText(42) // '42'
 */
export function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const t = v.trim()
    return t === '' ? undefined : t
  }
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined
  if (typeof v === 'boolean') return String(v)
  return undefined
}

/** Case-insensitive header lookup; the HTTP layer lowercases, direct callers may not. */
export function header(req: Pick<SourceRequest, 'headers'>, name: string): string | undefined {
  const want = name.toLowerCase()
  for (const [k, v] of Object.entries(req.headers)) if (k.toLowerCase() === want && v !== undefined) return v
  return undefined
}

/** The raw query string after `?` (without a fragment), exactly as received. */
export function rawQuery(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return ''
  const hash = url.indexOf('#', q)
  return url.slice(q + 1, hash < 0 ? undefined : hash)
}

// ---------------------------------------------------------------------------------------------------------
// IP allowlist

interface CompiledAllowList {
  list: BlockList
  invalid: string[]
}
const compiled = new WeakMap<readonly string[], CompiledAllowList>()

/**
 * Parses `allow_ips` entries (single addresses or CIDR, IPv4 and IPv6) into a `BlockList`.
 * Invalid entries are returned so `check-config` can report them; at request time they simply never match.
 * @example compileAllowList(['203.0.113.0/24', '2001:db8::/32', '::1']).invalid // []
 */
export function compileAllowList(entries: readonly string[]): CompiledAllowList {
  const list = new BlockList()
  const bad: string[] = []
  for (const entry of entries) {
    const [addr = '', prefixText, extra] = String(entry).trim().split('/')
    const family = isIP(addr)
    if (family === 0 || extra !== undefined) {
      bad.push(entry)
      continue
    }
    const type = family === 4 ? 'ipv4' : 'ipv6'
    if (prefixText === undefined) {
      list.addAddress(addr, type)
      continue
    }
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1
    if (prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
      bad.push(entry)
      continue
    }
    list.addSubnet(addr, prefix, type)
  }
  return { list, invalid: bad }
}

/** `::ffff:203.0.113.9` (an IPv4 peer on a dual-stack socket) is the IPv4 address for allowlisting. */
function unmapIpv4(ip: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)
  return m ? m[1] : ip
}

/**
 * Throws `E_SOURCE_IP` (403) unless `remoteIp` is in the allowlist; no list (or an empty one) allows all.
 * @example checkSourceIp('::ffff:10.0.0.5', ['10.0.0.0/8']) // passes
 */
export function checkSourceIp(remoteIp: string, allow: readonly string[] | undefined): void {
  if (!allow || allow.length === 0) return
  let c = compiled.get(allow)
  if (!c) {
    c = compileAllowList(allow)
    compiled.set(allow, c)
  }
  const ip = unmapIpv4(String(remoteIp ?? '').trim())
  const family = isIP(ip)
  if (family !== 0 && c.list.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return
  throw appError('E_SOURCE_IP', `source address ${ip || '(unknown)'} is not in allow_ips`)
}

// ---------------------------------------------------------------------------------------------------------
// Tokens and HMAC

export interface TokenPlaces {
  /** Header carrying the bare token; `X-Closeloop-Token` unless configured. */
  header?: string
  /** Query/body parameter carrying the token, or `false` to refuse tokens in URLs (they end up in logs). */
  param?: string | false
}

/**
 * The token the sender presented: the configured header, `Authorization: Bearer`, then the parameter
 * (query first, then a top-level body field).
 * @example presentedToken({ headers: { authorization: 'Bearer s3cret' }, … }) // 's3cret'
 */
export function presentedToken(req: SourceRequest, places: TokenPlaces = {}): string | undefined {
  const fromHeader = header(req, places.header ?? 'x-closeloop-token')
  if (fromHeader?.trim()) return fromHeader.trim()
  const auth = header(req, 'authorization')
  const bearer = auth && /^bearer\s+(.+)$/i.exec(auth.trim())
  if (bearer) return bearer[1].trim()
  const param = places.param === undefined ? 'token' : places.param
  if (param === false) return undefined
  const fromQuery = req.query && Object.hasOwn(req.query, param) ? scalarText(req.query[param]) : undefined
  if (fromQuery) return fromQuery
  return isObj(req.body) && Object.hasOwn(req.body, param) ? scalarText(req.body[param]) : undefined
}

/**
 * Throws `E_AUTH_MISSING` / `E_AUTH_INVALID` unless the presented token equals one of `tokens`
 * (constant time, every key checked).
 */
export function requireToken(req: SourceRequest, tokens: readonly string[], places?: TokenPlaces): void {
  const candidate = presentedToken(req, places)
  if (!candidate) throw appError('E_AUTH_MISSING', 'missing source token (X-Closeloop-Token header)')
  let ok = false
  for (const t of tokens) ok = safeEqual(candidate, t) || ok
  if (!ok) throw appError('E_AUTH_INVALID', 'invalid source token')
}

export type HmacAlgorithm = 'sha1' | 'sha256'

/**
 * Does `presented` equal HMAC(secret, data) in hex or base64? A `sha256=` / `sha1=` prefix (GitHub style)
 * is accepted. Comparison is constant time over digests, so neither length nor content leaks.
 * @example verifyHmac('k', 'body', 'sha256', 'sha256=' + hex) // true
 */
export function verifyHmac(
  secret: string,
  data: string,
  algorithm: HmacAlgorithm,
  presented: string | undefined,
): boolean {
  if (!presented) return false
  const sig = presented.trim().replace(/^(sha1|sha256)=/i, '')
  const mac = createHmac(algorithm, secret).update(data, 'utf8').digest()
  const hex = safeEqual(sig.toLowerCase(), mac.toString('hex'))
  const b64 = safeEqual(sig, mac.toString('base64'))
  const b64url = safeEqual(sig, mac.toString('base64url'))
  return hex || b64 || b64url
}

// ---------------------------------------------------------------------------------------------------------
// Values

const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i
const RFC2822_DATE =
  /^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{2}:\d{2}(?::\d{2})?\s*(?:[+-]\d{4}|GMT|UTC|UT|Z|[A-Z]{3})?$/
/** The model's money bound (`call.ts`): beyond a trillion is a unit mistake, not a sale. */
const MAX_MONEY = 1e12

/** Epoch values above this are milliseconds: 1e11 s is the year 5138, 1e11 ms is March 1973. */
export const MS_THRESHOLD = 1e11

/**
 * Epoch seconds from epoch s/ms (number or digits), ISO 8601 or RFC 2822; `undefined` when unreadable.
 * A naive ISO date-time (no offset) is read as UTC: call platforms report UTC unless they say otherwise.
 * @example parseEpochSeconds('2024-05-01T12:00:00Z') // 1714564800
 */
export function parseEpochSeconds(v: unknown): number | undefined {
  const text = scalarText(v)
  // 64 characters is far beyond any date format; longer input is not a date and not worth parsing
  if (text === undefined || text.length > 64) return undefined
  if (/^\d+(\.\d+)?$/.test(text)) {
    const n = Number(text)
    const s = n > MS_THRESHOLD ? n / 1000 : n
    return Number.isFinite(s) && s <= EPOCH_S_MAX ? Math.floor(s) : undefined
  }
  // Date.parse alone accepts nearly anything ("-5" is a year), so only the two documented formats get to it
  const iso = ISO_DATE.exec(text)
  if (!iso && !RFC2822_DATE.test(text)) return undefined
  const naive = iso !== null && iso[1] !== undefined && iso[2] === undefined
  const ms = Date.parse(naive ? `${text.replace(' ', 'T')}Z` : text)
  if (!Number.isFinite(ms) || ms < 0 || ms / 1000 > EPOCH_S_MAX) return undefined
  return Math.floor(ms / 1000)
}

/**
 * A money amount: `12.5`, `"12.50"`, `"$1,234.00"`, `"USD 12"`; `undefined` when unreadable. A comma is
 * read only as a thousands separator between groups of three digits: `"12,50"` (a decimal comma) and
 * `"1.234,56"` are unreadable, not 1250 and 1.23456 (stripping every comma once sent a €12.50 sale as 1250).
 * @example parseMoney('$1,234.50') // 1234.5
 */
export function parseMoney(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && Math.abs(v) <= MAX_MONEY ? v : undefined
  const text = scalarText(v)
  if (text === undefined || text.length > 64) return undefined
  const bare = text.replace(/^[A-Za-z]{3}\s*|\s*[A-Za-z]{3}$/g, '').replace(/[$€£\s]/g, '')
  if (!/^-?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?$/.test(bare)) return undefined
  const cleaned = bare.replaceAll(',', '')
  const n = Number(cleaned)
  return Number.isFinite(n) && Math.abs(n) <= MAX_MONEY ? n : undefined
}

/**
 * Seconds from `135`, `"135"`, `"135.4"`, `"2:15"` or `"00:02:15"`; `undefined` when unreadable.
 * @example parseSeconds('00:02:15') // 135
 */
export function parseSeconds(v: unknown): number | undefined {
  const text = scalarText(v)
  if (text === undefined || text.length > 32) return undefined
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text)
  const parts = /^(?:(\d+):)?(\d{1,2}):(\d{2})$/.exec(text)
  if (!parts) return undefined
  return Number(parts[1] ?? 0) * 3600 + Number(parts[2]) * 60 + Number(parts[3])
}

const TRUE = new Set(['true', 'yes', 'y', '1', 'on', 't'])
const FALSE = new Set(['false', 'no', 'n', '0', 'off', 'f'])

/** `true/yes/1/on` and `false/no/0/off` (TrackDrive's vocabulary, a superset of the others). */
export function parseBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v
  const text = scalarText(v)?.toLowerCase()
  if (text === undefined) return undefined
  if (TRUE.has(text)) return true
  if (FALSE.has(text)) return false
  return undefined
}

/**
 * The shipped default disposition → ECAPI event type (DESIGN.md §1, default signal vocabulary). Anything
 * unknown is a `contact`: the rules stage decides whether it converts, a source never guesses upward.
 * @example dispositionEventType('Appointment Set') // 'schedule'
 */
export function dispositionEventType(disposition: string, overrides?: Record<string, string>): EventType {
  const override = overrides?.[disposition]
  if (override) return override as EventType
  const key = disposition
    .toLowerCase()
    .replace(/[^a-z]+/g, ' ')
    .trim()
  if (/^(sale|sold|converted|conversion|closed won|won|purchase|funded|bound)$/.test(key))
    return 'close_convert_lead'
  if (/^(qualified|qualified lead|good lead|lead qualified)$/.test(key)) return 'qualify_lead'
  if (/^(appointment|appointment set|appt set|scheduled|booked|appointment booked)$/.test(key))
    return 'schedule'
  return 'contact'
}

/**
 * The campaign a tracking number belongs to, from a config map whose keys may be written in any format.
 * @example campaignForNumber({ '(800) 555-0100': 'mortgage-ny' }, '+18005550100', 'US') // 'mortgage-ny'
 */
export function campaignForNumber(
  map: Record<string, string> | undefined,
  trackingNumber: string | undefined,
  region: string,
): string | undefined {
  if (!map || !trackingNumber) return undefined
  if (Object.hasOwn(map, trackingNumber)) return map[trackingNumber]
  for (const [number, campaign] of Object.entries(map))
    if (toE164(number, region) === trackingNumber) return campaign
  return undefined
}
