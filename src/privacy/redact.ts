/**
 * Pure redaction of raw PII (no I/O): what retention and subject deletion do to a stored document.
 *
 * Two modes, one walk:
 *  - **retain** (retention): emails and phones become their SHA-256 after ECAPI normalization (trim +
 *    lowercase; E.164 with `+`), so matching and counts keep working; IP addresses, user agents and the
 *    caller's location are removed; names and street/postal fields are hashed like ECAPI hashes them.
 *  - **forget** (subject deletion): everything `retain` does, and then the subject's own hashes are
 *    removed as well (a hash of an email is still personal data once the person asked to be forgotten).
 *
 * Fields are recognised by key name (`email_address`, `phone_numbers`, `caller`, `From`, `event_ip_address`,
 * `user-agent`, …). Free text (URLs in the attempt log, form bodies, spam notes) is cleaned by *needles*:
 * the values found in the recognised fields of the same row and its context (the canonical event beside a
 * raw body), searched in every format they may take: `+12125550000`, `%2B12125550000`, `(212) 555-0000`,
 * `212+555+0000`, `jane%40example.com`. A generic pass also catches any email and any `+`-prefixed or
 * `(212) 555-0000`-shaped phone number that no recognised field announced.
 *
 * @example
 *   const r = redactor({ context: [event] })
 *   r.json(event).user_data.email_address // ['b4c9a289…'] (64-hex SHA-256 of 'user@example.com')
 *   r.text('https://pb.example/?caller=%2B12125550000') // 'https://pb.example/?caller=7c8d08bf…'
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'
import { normalizeGoogleEmail } from '../identity/google.ts'
import { identityKey, isSha256, sha256Hex } from '../identity/hash.ts'
import { toE164 } from '../identity/phone.ts'

/** Who to forget: raw values (found in any format) and hashed forms (found verbatim). */
export interface Subject {
  /** Emails as given (trimmed, lowercased). */
  emails: string[]
  /** Phones in E.164. */
  phones: string[]
  /** Lowercase hex: SHA-256 per ECAPI / Google / Meta normalization and `identityKey`s. */
  hashes: string[]
  /** Region the stored numbers written without a country code are read in (`calls.default_region`). */
  region?: string
}

/**
 * A bounded memo: the same caller, email and agent recur across a row's event, signal, journey and attempts,
 * and libphonenumber parsing and regex compilation dominate the cost of a row (measured ~0.1 ms a parse).
 */
function memo<V>(fn: (k: string) => V, max = 5000): (k: string) => V {
  const cache = new Map<string, V>()
  return (k) => {
    let v = cache.get(k)
    if (v === undefined && !cache.has(k)) {
      v = fn(k)
      if (cache.size >= max) cache.clear()
      cache.set(k, v)
    }
    return v as V
  }
}

const e164Of = memo((raw: string) => toE164(raw, 'US'))
const e164In = (raw: string, region: string) => (region === 'US' ? e164Of(raw) : toE164(raw, region))
/** A needle's pattern, or undefined when the engine cannot compile it (it is then simply not searched for). */
const compiled = memo((pattern: string): RegExp | undefined => {
  try {
    return new RegExp(pattern, 'gi')
  } catch {
    return undefined
  }
})

/** How a key's value is treated. */
type Kind = 'email' | 'phone' | 'hash' | 'drop' | 'business' | undefined

/** Keys compared lowercased with everything but letters and digits removed: `event_ip_address` → `eventipaddress`. */
const flat = (key: string) => key.toLowerCase().replace(/[^a-z0-9]/g, '')

// IP addresses and user agents: removed (ECAPI sends them unhashed, so there is no hash to keep)
const DROP_EXACT = new Set([
  'ip',
  'ua',
  'xforwardedfor',
  'xrealip',
  'cfconnectingip',
  'trueclientip',
  'forwarded',
  'remoteaddr',
  'remoteaddress',
  'clientip',
  'userip',
  'visitorip',
  'callerip',
])
// Twilio reports where the caller is (CallerCity, FromZip…): location of a person, removed with the IP
const CALLER_LOCATION = /^(caller|from)(city|state|zip|country)$/
const PHONE_EXCLUDED = /tracking|^to$|^called|dialed|business|forwarded/
// a business number field: found needles still apply, the generic phone pass does not
const BUSINESS_KEY = /trackingnumber|^to$|^called$|dialed|businessnumber|forwardedfrom/
// a tracker's own number fields (`tracking_number`) are the business, not the caller
const PHONE_KEY = /phone|^caller$|callerid|callernumber|^from$|^ani$|^ph$|customernumber|callingnumber/
const EMAIL_KEY = /email|^em$/
// hashed by ECAPI: names, street, postal code (ecapi.md §7)
const HASH_KEY =
  /^(first|last|given|family|full|middle|caller|customer)name$|^(fn|ln)$|^street$|^postalcode$|^zip(code)?$/

function kindOf(key: string | undefined): Kind {
  if (key === undefined) return undefined
  const k = flat(key)
  if (DROP_EXACT.has(k) || k.endsWith('ipaddress') || k.endsWith('useragent') || CALLER_LOCATION.test(k))
    return 'drop'
  if (HASH_KEY.test(k)) return 'hash'
  if (EMAIL_KEY.test(k)) return 'email'
  if (BUSINESS_KEY.test(k)) return 'business'
  if (PHONE_KEY.test(k) && !PHONE_EXCLUDED.test(k)) return 'phone'
  return undefined
}

/**
 * ECAPI email normalization (trim, lowercase), then SHA-256; a value that already is a hash passes.
 *
 * @example hashEmail(' User@example.com ') // 'b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514'
 */
export function hashEmail(raw: string): string {
  const t = raw.trim()
  return isSha256(t) ? t.toLowerCase() : sha256Hex(t.toLowerCase())
}

/**
 * ECAPI phone normalization (E.164 with `+`, US when no country code), then SHA-256. Something that is not
 * a phone number (`client:alice`, `anonymous`) is hashed as trimmed lowercase text: never kept raw.
 *
 * @example hashPhone('(212) 555-0000') // '7c8d08bf90ca322bcac37f99ba14e980e4b1f5ba919f7e16a030af9070ba125e'
 */
export function hashPhone(raw: string, region = 'US'): string {
  const t = raw.trim()
  if (isSha256(t)) return t.toLowerCase()
  return sha256Hex(e164In(t, region) ?? t.toLowerCase())
}

const hashLower = (raw: string) =>
  isSha256(raw.trim()) ? raw.trim().toLowerCase() : sha256Hex(raw.trim().toLowerCase())

/** Values found in recognised fields: what free text is then searched for. */
interface Found {
  emails: Set<string>
  phones: Set<string>
  /** IPs, user agents, locations, names: replaced by `[redacted]` wherever they appear as text. */
  other: Set<string>
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** A string that holds a JSON object or array (an attempt's request body, a nested payload). */
function parseNested(s: string): unknown {
  const t = s.trimStart()
  if (!(t.startsWith('{') || t.startsWith('['))) return undefined
  try {
    const v: unknown = JSON.parse(s)
    return typeof v === 'object' && v !== null ? v : undefined
  } catch {
    return undefined
  }
}

/**
 * Longest value searched for in free text. A user agent is a few hundred characters; a longer "value" (a JSON
 * document posted in a form field) made a pattern the regex engine could not compile, and retention threw
 * at that row on every pass. A longer value is still hashed or removed in its own field.
 */
const MAX_NEEDLE_CHARS = 2048

function collect(v: unknown, key: string | undefined, into: Found, depth = 0): void {
  if (depth > 64) return
  const kind = kindOf(key)
  if (typeof v === 'string') {
    const s = v.trim()
    if (s === '' || isSha256(s)) return
    if (s.length > MAX_NEEDLE_CHARS && kind !== undefined) return
    if (kind === 'email') into.emails.add(s)
    else if (kind === 'phone') into.phones.add(s)
    else if (kind === 'drop' || kind === 'hash') into.other.add(s)
    else {
      const nested = parseNested(s)
      if (nested !== undefined) collect(nested, undefined, into, depth + 1)
      else if (looksLikeForm(s)) collect(formToObject(s), undefined, into, depth + 1)
    }
  } else if (typeof v === 'number' && kind === 'phone') into.phones.add(String(v))
  // the records of a scoped array bring their needles when they are redacted (`inScope`), not before
  else if (Array.isArray(v)) {
    const scoped = isScopedArray(v)
    for (const x of v) if (!(scoped && isObj(x))) collect(x, key, into, depth + 1)
  } else if (isObj(v)) for (const [k, x] of Object.entries(v)) collect(x, k, into, depth + 1)
}

// ---------------------------------------------------------------------------------------------------------
// text patterns

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const pct = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`

/** One character as written raw, percent-encoded (`%40`), or (a space) form-encoded as `+`. */
function charPattern(c: string): string {
  if (/[A-Za-z0-9]/.test(c)) return c
  if (c.charCodeAt(0) > 127)
    return `(?:${escapeRe(c)}|${[...Buffer.from(c)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')})`
  const alts = [escapeRe(c), pct(c)]
  if (c === ' ') alts.push('\\+')
  return `(?:${alts.join('|')})`
}

/**
 * A literal value in any URL/form encoding, case-insensitively (the regex carries the `i` flag).
 *
 * @example new RegExp(literalPattern('jane+x@example.com'), 'i').test('jane%2Bx%40EXAMPLE.com') // true
 */
export function literalPattern(value: string): string {
  const body = [...value].map(charPattern).join('')
  // an IP or number must not match inside a longer one (203.0.113.7 inside 203.0.113.70)
  const pre = /^[0-9]/.test(value) ? '(?<![0-9.])' : ''
  const post = /[0-9]$/.test(value) ? '(?![0-9])' : ''
  return pre + body + post
}

// separators people and encoders put inside phone numbers: space, ( ) . - /, %20 %28 %29 %2D, form `+`
const SEP = '(?:[\\s().\\-/]|%20|%28|%29|%2D|\\+(?=[0-9(]))*'

/**
 * A phone number in every format it may be written: with or without `+`/`%2B`/`00` and the country code,
 * a national trunk `0`, any separators between digits, percent- or form-encoded.
 *
 * @example new RegExp(phonePattern('+12125550000'), 'i').test('tel=(212)+555-0000') // true
 */
export const phonePattern = memo(phonePatternOf)

function phonePatternOf(e164: string): string | undefined {
  const p = parsePhoneNumberFromString(e164)
  if (!p) return undefined
  const cc = String(p.countryCallingCode)
  const nn = String(p.nationalNumber)
  const digits = [...nn].join(SEP)
  const country = `(?:(?:\\+|%2B|00)${SEP}${[...cc].join(SEP)}|${[...cc].join(SEP)}|0)`
  return `(?<![0-9])(?:${country}${SEP}|\\(|%28)?${digits}(?![0-9])`
}

const GENERIC_EMAIL = /[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/gi
// `+` or `%2B` then 10–15 digits with separators; and the US `(212) 555-0000` shape
const GENERIC_PHONE = /(?:\+|%2B)(?:[0-9]|[ ().-]|%20|%28|%29){9,30}[0-9]|\(\d{3}\)\s?\d{3}[-.\s]\d{4}/gi

function decodeLoose(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

interface Rule {
  re: RegExp
  to: (match: string) => string
}

const DELETED = '[deleted]'
const REDACTED = '[redacted]'

// ---------------------------------------------------------------------------------------------------------
// the redactor

export interface Redactor {
  /** A JSON document redacted (a new value; the input is not changed). */
  json(v: unknown): unknown
  /** Free text with every needle variant and generic email/phone replaced. */
  text(s: string): string
  /** A raw request body as stored: JSON, form-encoded, a query string or a request URL, else replaced by a note. */
  rawBody(body: string, contentType?: string): string
  /** Whether `s` mentions the subject (raw in any format, or one of its hashes). Always false in retain mode. */
  mentions(s: string): boolean
}

export interface RedactorOptions {
  /** Documents whose recognised fields say what to look for in free text (the row itself, its event…). */
  context: unknown[]
  /** Forget mode: this subject's values and hashes are removed, not hashed. */
  subject?: Subject
  /** Region for numbers written without a country code. */
  region?: string
  /**
   * More context for one element of a long array of records (see `SCOPED_ARRAY`): the canonical event read
   * from an element of a raw batch holds its caller in E.164.
   */
  scope?: (element: Record<string, unknown>) => unknown[]
}

/**
 * Arrays of at least this many records (a batch's events, a platform payload's `data`) are redacted record by
 * record, each with the needles of its own fields, the row's other fields and its `scope`. With one set of
 * needles for the whole row, every free-text string was searched for every value of every record: a raw
 * batch of 1,000 events took 30 s to scrub, on the event loop (500 events: 7.7 s; 100: 0.26 s).
 */
const SCOPED_ARRAY = 8

/**
 * At most this many needles of each kind per record: a hostile body of thousands of emails would otherwise
 * still cost (values × strings). Values past the cap are still hashed in their own fields, and the generic
 * email and `+`-phone passes still find them in free text.
 */
const MAX_NEEDLES = 256

const isScopedArray = (v: unknown[]) => v.length >= SCOPED_ARRAY

/**
 * Builds a redactor for one row: needles come from `context` (and the subject, in forget mode).
 *
 * @example
 *   const r = redactor({ context: [raw, ...events], subject })
 *   const body = r.rawBody(raw.body, raw.contentType)
 */
export function redactor(opts: RedactorOptions): Redactor {
  return build(opts)
}

/** `redactor`, plus needles found outside the record it is built for (an element of a scoped array). */
function build(
  opts: RedactorOptions,
  outer?: Found,
): Redactor & { walkAt(v: unknown, depth: number): unknown } {
  const region = opts.region ?? opts.subject?.region ?? 'US'
  const subject = opts.subject
  const found = copyOf(outer)
  for (const c of opts.context) collect(c, undefined, found)
  // the row's own needles, before the subject's: what an element of a scoped array inherits
  const row = copyOf(found)
  for (const e of subject?.emails ?? []) found.emails.add(e)
  for (const p of subject?.phones ?? []) found.phones.add(p)
  const subjectHashes = new Set((subject?.hashes ?? []).map((h) => h.toLowerCase()))
  const gone = (h: string) => subjectHashes.has(h)
  const emailTo = (raw: string) => {
    const h = hashEmail(decodeLoose(raw))
    return gone(h) || gone(sha256Hex(normalizeGoogleEmail(decodeLoose(raw)))) ? DELETED : h
  }
  const phoneTo = (raw: string) => {
    const h = hashPhone(decodeLoose(raw), region)
    return gone(h) ? DELETED : h
  }

  const rules: Rule[] = []
  const addRule = (pattern: string, to: Rule['to']) => {
    const re = compiled(pattern)
    if (re) rules.push({ re, to })
  }
  // longest first: a user agent may contain an IP-like version number, a phone may sit inside a URL
  const others = [...found.other]
    .filter((o) => o.length >= 4)
    .sort((a, b) => b.length - a.length)
    .slice(0, MAX_NEEDLES)
  for (const o of others) addRule(literalPattern(o), () => REDACTED)
  for (const e of capped(found.emails)) {
    const norm = e.trim().toLowerCase()
    const to = () => emailTo(norm)
    addRule(literalPattern(norm), to)
    const g = normalizeGoogleEmail(norm)
    if (g !== norm) addRule(literalPattern(g), to)
  }
  for (const p of capped(found.phones)) {
    const e164 = e164In(p, region)
    const pattern = e164 ? phonePattern(e164) : p.trim().length >= 4 ? literalPattern(p.trim()) : undefined
    if (!pattern) continue
    const h = hashPhone(e164 ?? p, region)
    addRule(pattern, () => (gone(h) ? DELETED : h))
  }
  rules.push({ re: GENERIC_EMAIL, to: emailTo })
  rules.push({
    re: GENERIC_PHONE,
    to: (m) => {
      const digits = decodeLoose(m).replace(/\D/g, '')
      if (digits.length < 10 || digits.length > 15) return m
      return phoneTo(m)
    },
  })
  // the subject's hashes last: a hash produced above for the subject's raw value is already DELETED
  for (const h of subjectHashes) addRule(escapeRe(h), () => DELETED)

  const mentionRes = subject
    ? [
        ...subject.emails.map((e) => new RegExp(literalPattern(e.trim().toLowerCase()), 'i')),
        ...subject.phones.flatMap((p) => {
          const pat = phonePattern(p)
          return pat ? [new RegExp(pat, 'i')] : []
        }),
        ...[...subjectHashes].map((h) => new RegExp(escapeRe(h), 'i')),
      ]
    : []

  function text(s: string, business = false): string {
    let out = s
    for (const r of rules) if (!(business && r.re === GENERIC_PHONE)) out = out.replace(r.re, r.to)
    return out
  }

  const DROP = Symbol('drop')

  function leaf(s: string, kind: Kind): string | typeof DROP {
    const t = s.trim()
    if (t === '') return s
    if (kind === 'drop') return DROP
    const h =
      kind === 'email'
        ? hashEmail(t)
        : kind === 'phone'
          ? hashPhone(t, region)
          : kind === 'hash'
            ? hashLower(t)
            : undefined
    if (h === undefined) return s
    if (gone(h) || (kind === 'email' && gone(sha256Hex(normalizeGoogleEmail(t))))) return DROP
    return h
  }

  function walk(v: unknown, key: string | undefined, depth: number): unknown {
    if (depth > 64) return null
    const kind = kindOf(key)
    if (typeof v === 'string') {
      if (kind === 'business') return text(v, true)
      if (kind) return leaf(v, kind)
      const nested = parseNested(v)
      if (nested !== undefined) return JSON.stringify(walk(nested, undefined, depth + 1))
      const out = text(v)
      return subjectHashes.has(out.trim().toLowerCase()) ? DROP : out
    }
    if (typeof v === 'number') {
      if (kind === 'drop') return DROP
      // a phone sent as a JSON number: {"caller": 2125550000}
      if (kind === 'phone' && Number.isInteger(v) && String(v).length >= 7) return leaf(String(v), kind)
      return v
    }
    if (Array.isArray(v)) {
      const scoped = isScopedArray(v)
      const out: unknown[] = []
      for (const x of v) {
        const w = scoped && isObj(x) ? inScope(x, depth + 1) : walk(x, key, depth + 1)
        if (w !== DROP) out.push(w)
      }
      return out
    }
    if (isObj(v)) {
      const out: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(v)) {
        const w = walk(x, k, depth + 1)
        // defined, not assigned: a sender's `__proto__` key stays a key (assigning would set the prototype)
        if (w !== DROP)
          Object.defineProperty(out, text(k), {
            value: w,
            enumerable: true,
            writable: true,
            configurable: true,
          })
      }
      return out
    }
    return v
  }

  /** One record of a scoped array, by a redactor of its own: its fields' needles, the row's, its scope's. */
  function inScope(x: Record<string, unknown>, depth: number): unknown {
    if (depth > 64) return null
    // a record walks to an object, never to a dropped value
    return build({ ...opts, context: [x, ...(opts.scope?.(x) ?? [])] }, row).walkAt(x, depth)
  }

  function json(v: unknown): unknown {
    const w = walk(v, undefined, 0)
    return w === DROP ? null : w
  }

  function form(s: string): string {
    const obj = formToObject(s)
    const params = new URLSearchParams()
    for (const [k, vals] of Object.entries(obj))
      for (const x of vals) {
        const w = walk(x, k, 1)
        if (w === DROP) continue
        params.append(text(k), typeof w === 'string' ? w : JSON.stringify(w))
      }
    return params.toString()
  }

  function rawBody(body: string, contentType?: string): string {
    if (body === '') return body
    const nested = parseNested(body)
    if (nested !== undefined) return JSON.stringify(json(nested))
    // a GET postback is stored as its request URL: keep the path, redact the query
    const q = body.indexOf('?')
    if (body.startsWith('/') && !/\s/.test(body)) {
      const path = text(q === -1 ? body : body.slice(0, q))
      return q === -1 ? path : `${path}?${form(body.slice(q + 1))}`
    }
    if (/json/i.test(contentType ?? '') === false && looksLikeForm(body)) return form(body)
    // nothing to parse it by: what was there is gone, its size and hash stay for the record
    return `[scrubbed: unparseable body, ${Buffer.byteLength(body)} bytes, sha256 ${sha256Hex(body)}]`
  }

  return {
    json,
    text: (s) => text(s),
    rawBody,
    mentions: (s) => mentionRes.some((re) => re.test(s)),
    walkAt: (v, depth) => walk(v, undefined, depth),
  }
}

const capped = <T>(set: Set<T>): T[] => [...set].slice(0, MAX_NEEDLES)

const copyOf = (f?: Found): Found => ({
  emails: new Set(f?.emails),
  phones: new Set(f?.phones),
  other: new Set(f?.other),
})

/** `a=1&b=2` (no raw whitespace, at least one `=`): a form body or a query string. */
function looksLikeForm(s: string): boolean {
  return s.length > 0 && !/\s/.test(s) && /^[^=&]+=[^&]*(?:&[^=&]*(?:=[^&]*)?)*$/.test(s)
}

function formToObject(s: string): Record<string, string[]> {
  // no prototype: `out.constructor ??= []` found Object and threw, and retention stopped at that row for good
  const out: Record<string, string[]> = Object.create(null)
  for (const [k, v] of new URLSearchParams(s)) {
    out[k] ??= []
    out[k].push(v)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// subjects

export interface SubjectInput {
  email?: string
  phone?: string
}

/**
 * The subject of a deletion request: the raw values to find and every hash closeloop (or a destination it
 * sent to) may have stored for them: ECAPI/Google/Meta email hashes, the E.164 phone hash (ECAPI, Google),
 * the Meta digits hash, and the `identityKey` that journey aliases and fact keys hold.
 * Returns the fields that are not usable as `{ path, message }` errors instead.
 *
 * @example
 *   subjectOf({ phone: '(212) 555-0000' }) // { phones: ['+12125550000'], hashes: ['7c8d08bf…', …] }
 */
export function subjectOf(
  input: SubjectInput,
  region = 'US',
): Subject | Array<{ path: string; message: string }> {
  const errors: Array<{ path: string; message: string }> = []
  const s: Subject = { emails: [], phones: [], hashes: [], region }
  if (input.email !== undefined) {
    const e = input.email.trim().toLowerCase()
    // control characters (a NUL) are in no address, and PostgreSQL cannot even hold them in a search
    if (!/^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+\.[^\s@\p{Cc}]+$/u.test(e))
      errors.push({ path: '/email', message: 'not an email address' })
    else {
      s.emails.push(e)
      s.hashes.push(sha256Hex(e), sha256Hex(normalizeGoogleEmail(e)))
    }
  }
  if (input.phone !== undefined) {
    const p = toE164(input.phone, region)
    if (!p) errors.push({ path: '/phone', message: 'not a phone number (use E.164, e.g. +12125550000)' })
    else {
      s.phones.push(p)
      s.hashes.push(sha256Hex(p), sha256Hex(p.slice(1)), identityKey(p))
    }
  }
  if (input.email === undefined && input.phone === undefined)
    errors.push({ path: '/', message: 'give email and/or phone' })
  if (errors.length) return errors
  s.hashes = [...new Set(s.hashes)]
  return s
}

/**
 * What the audit log records as the subject: one SHA-256 over the subject's primary hashes, so the entry
 * can be matched by someone who knows the person, and read by nobody who does not.
 *
 * @example auditSubject(subjectOf({ email: 'a@b.co' }) as Subject) // 64 hex characters
 */
export function auditSubject(s: Subject): string {
  return sha256Hex(
    [...s.emails.map((e) => `e:${sha256Hex(e)}`), ...s.phones.map((p) => `p:${sha256Hex(p)}`)]
      .sort()
      .join('|'),
  )
}

/**
 * SQL `LIKE` patterns (escape character `\`) that every stored text mentioning the subject matches, for a
 * cheap pre-filter before `mentions` decides: the email raw and percent-encoded, each hash, and the phone's
 * digits in order, grouped as its own country writes it (international and national formats) and as the
 * US does (3-3-4), with anything between. Only US grouping once: `07700 900123` and `+44 7700 900123`
 * matched no pattern of +447700900123, so a deletion left them (a review reproduced it).
 *
 * @example likePatterns({ emails: [], phones: ['+12125550000'], hashes: [] }) // ['%212%555%0000%']
 */
export function likePatterns(s: Subject): string[] {
  const esc = (v: string) => v.replace(/[\\%_]/g, (c) => `\\${c}`)
  const out = new Set<string>()
  for (const e of s.emails) {
    out.add(`%${esc(e)}%`)
    out.add(`%${esc(encodeURIComponent(e))}%`)
    const g = normalizeGoogleEmail(e)
    if (g !== e) out.add(`%${esc(g)}%`)
  }
  for (const p of s.phones) {
    const parsed = parsePhoneNumberFromString(p)
    const nn = String(parsed?.nationalNumber ?? p.slice(-10))
    const groups = nn.length > 7 ? [nn.slice(0, nn.length - 7), nn.slice(-7, -4), nn.slice(-4)] : [nn]
    out.add(`%${groups.join('%')}%`)
    if (parsed) {
      // "+44 7700 900123" without its country code, and "07700 900123"
      const international = parsed.formatInternational().split(/\s+/).slice(1).join(' ')
      for (const written of [international, parsed.formatNational()]) {
        const digitGroups = written.split(/\D+/).filter(Boolean)
        if (digitGroups.length) out.add(`%${digitGroups.join('%')}%`)
      }
    }
  }
  for (const h of s.hashes) out.add(`%${h}%`)
  return [...out]
}
