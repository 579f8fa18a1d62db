/**
 * `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, public URL + sorted POST parameters)).
 *
 * Written from the published algorithm (telephony-and-postbacks.md §1.5) and checked in tests against the
 * official `twilio` package: the same URL variants are tried (as received, with and without the default
 * port, WHATWG-normalized, legacy-querystring re-encoded) because Twilio's own signing is inconsistent
 * about ports and quote escaping. JSON bodies are signed over the URL carrying `bodySHA256` with no
 * parameters, and the body must hash to that value.
 *
 * @example
 *   twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2',
 *     { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234',
 *       From: '+12349013030', To: '+18005551212' }) // '0/KCTR6DLpKmkAf8muzZqo1nDgQ='
 */
import { createHash, createHmac } from 'node:crypto'
import { parse as legacyParse, stringify as legacyStringify } from 'node:querystring'
import { safeEqual } from '../../http/auth.ts'

/** Form parameters as Twilio signs them: a repeated name carries every value. */
export type SignedParams = Record<string, string | readonly string[]>

/** The string Twilio signs: URL, then `name + value` for each parameter in sorted name order. */
export function stringToSign(url: string, params: SignedParams): string {
  let out = url
  for (const name of Object.keys(params).sort()) {
    const value = params[name]
    // twilio-node signs each distinct value of a repeated parameter once, in sorted order
    const values = typeof value === 'string' ? [value] : [...new Set(value)].sort()
    for (const v of values) out += name + v
  }
  return out
}

/** The expected `X-Twilio-Signature` for a URL and its POST parameters. */
export function twilioSignature(authToken: string, url: string, params: SignedParams): string {
  return createHmac('sha1', authToken).update(stringToSign(url, params), 'utf8').digest('base64')
}

/** Form body → parameters, keeping repeated names (e.g. `StatusCallbackEvent`). */
export function formParams(rawBody: string): SignedParams {
  const out: Record<string, string | string[]> = Object.create(null)
  for (const [k, v] of new URLSearchParams(rawBody)) {
    const prev = out[k]
    if (prev === undefined) out[k] = v
    else out[k] = typeof prev === 'string' ? [prev, v] : [...prev, v]
  }
  return out
}

interface UrlParts {
  head: string
  host: string
  port: string
  rest: string
}

/** Splits without normalizing, so the path and query keep the exact characters Twilio signed. */
function splitUrl(url: string): UrlParts | undefined {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url)
  if (!m) return undefined
  const authority = m[2]
  const at = authority.lastIndexOf('@')
  const hostPort = authority.slice(at + 1)
  // a colon starts the port only after an IPv6 literal's closing bracket
  const colon = hostPort.indexOf(':', hostPort.lastIndexOf(']') + 1)
  return {
    head: m[1] + authority.slice(0, at + 1),
    host: colon < 0 ? hostPort : hostPort.slice(0, colon),
    port: colon < 0 ? '' : hostPort.slice(colon),
    rest: url.slice(m[0].length),
  }
}

function withoutPort(url: string): string {
  const p = splitUrl(url)
  return p ? p.head + p.host + p.rest : url
}

function withDefaultPort(url: string): string {
  const p = splitUrl(url)
  if (!p || p.port) return url
  return p.head + p.host + (p.head.toLowerCase().startsWith('https://') ? ':443' : ':80') + p.rest
}

function legacyQuery(url: string): string {
  const q = url.indexOf('?')
  if (q < 0 || q === url.length - 1) return url
  return `${url.slice(0, q)}?${legacyStringify(legacyParse(url.slice(q + 1)))}`
}

/**
 * Every URL form Twilio may have signed, most likely first.
 * @example urlCandidates('https://a.example/cb') // ['https://a.example/cb', 'https://a.example:443/cb', …]
 */
export function urlCandidates(url: string): string[] {
  const out = [withoutPort(url), withDefaultPort(url)]
  let normalized: string | undefined
  try {
    normalized = new URL(url).toString()
  } catch {
    normalized = undefined
  }
  if (normalized) {
    const a = withoutPort(normalized)
    const b = withDefaultPort(normalized)
    out.push(a, b, legacyQuery(a), legacyQuery(b))
  }
  return [...new Set(out)]
}

export interface SignedRequest {
  /** `X-Twilio-Signature` as received. */
  signature: string | undefined
  /** The public URL Twilio requested, query included. */
  url: string
  /** Raw body ('' for GET). */
  rawBody: string
  /** True when the body is JSON (signed through `bodySHA256`), false for a form body. */
  json: boolean
}

/** The `bodySHA256` query value, if the URL carries one. */
function bodyHashParam(url: string): string | undefined {
  try {
    return new URL(url).searchParams.get('bodySHA256') ?? undefined
  } catch {
    return undefined
  }
}

/**
 * Does the request carry a valid signature for any of the auth tokens (current and, during a rotation,
 * secondary)? Every candidate is compared in constant time.
 */
export function verifyTwilioSignature(req: SignedRequest, authTokens: readonly string[]): boolean {
  const signature = req.signature?.trim()
  if (!signature) return false
  const bodyHash = bodyHashParam(req.url)
  const useBodyHash = req.json || bodyHash !== undefined
  // JSON: the URL alone is signed, and the body must hash to its bodySHA256; GET: parameters are in the URL
  const params: SignedParams = useBodyHash ? {} : formParams(req.rawBody)
  if (useBodyHash) {
    const actual = createHash('sha256').update(req.rawBody, 'utf8').digest('hex')
    if (!bodyHash || !safeEqual(bodyHash.toLowerCase(), actual)) return false
  }
  let ok = false
  for (const token of authTokens)
    for (const url of urlCandidates(req.url))
      ok = safeEqual(signature, twilioSignature(token, url, params)) || ok
  return ok
}
