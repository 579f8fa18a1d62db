/**
 * Phone numbers to E.164 with libphonenumber-js. A number without a country code is read in the source's
 * default region (`US` unless configured), which is how call platforms report US callers (`2125550000`).
 *
 * @example
 *   toE164('(212) 555-0000') // '+12125550000'
 *   toE164('020 7946 0958', 'GB') // '+442079460958'
 */
import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js/max'

/**
 * Parsed numbers are cached: a call's caller and tracking number are normalized by several stages per callback,
 * and parsing with full metadata was ~6 % of the server's CPU on the Twilio benchmark. Bounded (cleared when
 * full) so hostile input cannot grow it.
 */
const cache = new Map<string, string | undefined>()
const CACHE_MAX = 20_000

export function toE164(raw: string | undefined, defaultRegion = 'US'): string | undefined {
  if (!raw) return undefined
  const key = `${defaultRegion}|${raw}`
  if (cache.has(key)) return cache.get(key)
  const out = parse(raw, defaultRegion)
  if (cache.size >= CACHE_MAX) cache.clear()
  cache.set(key, out)
  return out
}

function parse(raw: string, defaultRegion: string): string | undefined {
  const trimmed = String(raw).trim()
  if (trimmed === '' || /^(anonymous|restricted|unknown|private|unavailable)$/i.test(trimmed))
    return undefined
  const cleaned = trimmed.startsWith('00') ? `+${trimmed.slice(2)}` : trimmed
  const parsed = parsePhoneNumberFromString(cleaned, defaultRegion as CountryCode)
  // '555' parses as +1555: only a number of a possible length for its country is a phone number
  if (!parsed?.isPossible()) return undefined
  return parsed.number
}
