/**
 * ECAPI 1.0 normalization and SHA-256 (ecapi.md §7): the rules every ECAPI participant applies before
 * hashing, so the same person hashes the same at every partner.
 *
 * ECAPI differs from Meta and Google where it changes the hash: the phone keeps its `+` (like Google, unlike
 * Meta), gender is the full lowercase word (`female`, Meta sends `f`), the postal code is hashed (Google sends
 * it in the clear), and city / state / country travel in the clear, lowercase, without punctuation.
 * Values that already are SHA-256 digests (64 hex) pass through lowercased, so a source that hashed upstream
 * still matches. Every official vector of ecapi.md §8 is checked in `payload.test.ts`.
 *
 * @example
 *   ecapiEmailHash(' User@example.com ') // 'b4c9a289…5514' = sha256('user@example.com')
 *   ecapiPhoneHash('+1 212-555-0000')    // '7c8d08bf…125e' = sha256('+12125550000')
 *   ecapiPlain(' New York ')             // 'new york'
 */
import { hashWith, isSha256 } from '../../identity/hash.ts'
import { normalizeMetaCountry } from '../../identity/meta.ts'
import { toE164 } from '../../identity/phone.ts'

/** Lowercase and trimmed: the spec's rule for email and customer id (official vectors keep dots and `+`). */
export const normalizeEcapiLower = (raw: string): string => raw.trim().toLowerCase()

/**
 * Phone: E.164 with the `+` and the country code ("US numbers must start with +1"). A number without a
 * country code is read in `defaultRegion`; one libphonenumber cannot place is kept only when it was written
 * internationally (`+` / `00`), as `+` and its digits without leading zeros, because otherwise the country is
 * unknowable and the hash could never match.
 *
 * @example
 *   normalizeEcapiPhone('+1 212-555-0000') // '+12125550000'
 *   normalizeEcapiPhone('(212) 555-0000')  // '+12125550000'
 */
export function normalizeEcapiPhone(raw: string, defaultRegion = 'US'): string {
  let e164: string | undefined
  try {
    e164 = toE164(raw, defaultRegion)
  } catch {
    // an unknown default region throws in libphonenumber; treat it like an unparseable number
    e164 = undefined
  }
  if (e164) return e164
  if (!/^\s*(?:\+|00)/.test(raw)) return ''
  const digits = raw.replace(/[^0-9]/g, '').replace(/^0+/, '')
  return digits.length >= 7 ? `+${digits}` : ''
}

/** Letters (any script), marks and digits survive; punctuation goes; whitespace collapses to one space. */
function words(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\s]/gu, '')
    .replace(/\s+/g, ' ')
    .trim()
}

/**
 * First / last name and street: trim, lowercase, no punctuation (the spec's general rule; the official name
 * vectors only trim and lowercase, which this also satisfies).
 *
 * @example normalizeEcapiName(" O'Connor ") // 'oconnor'
 */
export const normalizeEcapiName = (raw: string): string => words(raw)

/** Gender as the spec's full lowercase word; `m`/`f` abbreviations are spelled out. */
const GENDER_WORDS: Readonly<Record<string, string>> = { m: 'male', f: 'female' }

/**
 * Gender: trim, lowercase full word (official vector ` Female ` → `female`).
 *
 * @example normalizeEcapiGender('F') // 'female'
 */
export function normalizeEcapiGender(raw: string): string {
  const s = words(raw)
  return GENDER_WORDS[s] ?? s
}

/**
 * Postal code: lowercase, single spaces. A US ZIP+4 is cut to the 5-digit ZIP; a UK postcode to its sector
 * (`SW1A 1AA` → `sw1a 1`: area, district and sector, as the spec asks; the exact spacing is unverified).
 *
 * @example
 *   normalizeEcapiPostalCode('10001-1234') // '10001'
 *   normalizeEcapiPostalCode('SW1A 1AA', 'gb') // 'sw1a 1'
 */
export function normalizeEcapiPostalCode(raw: string, countryCode?: string): string {
  const s = raw.trim().toLowerCase().replace(/\s+/g, ' ')
  const zip = /^(\d{5})(?:[-\s]?\d{4})?$/.exec(s)
  if (zip && (countryCode === undefined || countryCode === 'us')) return zip[1]
  if (countryCode === 'gb') {
    const uk = /^([a-z]{1,2}\d[a-z\d]?) ?(\d)[a-z]{2}$/.exec(s)
    if (uk) return `${uk[1]} ${uk[2]}`
  }
  return s
}

/**
 * City and state, sent in the clear: lowercase, no punctuation, inner spaces kept (`new york`, `ny`).
 * A value that is already a hash cannot be un-hashed into the plain form the spec wants, so it is dropped.
 *
 * @example ecapiPlain(' St. Louis ') // 'st louis'
 */
export function ecapiPlain(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === null) return undefined
  if (isSha256(String(raw).trim())) return undefined
  const s = words(String(raw))
  return s === '' ? undefined : s
}

/**
 * Country in the clear: ISO 3166-1 alpha-2, lowercase; common names and alpha-3 codes are converted.
 *
 * @example ecapiCountry('United States') // 'us'
 */
export function ecapiCountry(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === null) return undefined
  const s = String(raw).trim()
  if (s === '' || isSha256(s)) return undefined
  return normalizeMetaCountry(s)
}

/** SHA-256 of the trimmed, lowercased email. */
export const ecapiEmailHash = (raw: string | undefined): string | undefined =>
  hashWith(normalizeEcapiLower, raw)

/** SHA-256 of the `+`-prefixed E.164 phone. */
export const ecapiPhoneHash = (raw: string | undefined, defaultRegion = 'US'): string | undefined =>
  hashWith((s) => normalizeEcapiPhone(s, defaultRegion), raw)

/** SHA-256 of the trimmed, lowercased customer id (official vector `User123` → `user123`). */
export const ecapiCustomerIdHash = (raw: string | undefined): string | undefined =>
  hashWith(normalizeEcapiLower, raw)

/** SHA-256 of a name or street. */
export const ecapiNameHash = (raw: string | undefined): string | undefined =>
  hashWith(normalizeEcapiName, raw)

/** SHA-256 of the full-word gender. */
export const ecapiGenderHash = (raw: string | undefined): string | undefined =>
  hashWith(normalizeEcapiGender, raw)

/** SHA-256 of the postal code, ZIP / UK sector cut by country. */
export const ecapiPostalCodeHash = (raw: string | undefined, countryCode?: string): string | undefined =>
  hashWith((s) => normalizeEcapiPostalCode(s, countryCode), raw)
