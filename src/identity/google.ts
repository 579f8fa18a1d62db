/**
 * Google's user-data normalization and SHA-256, shared by the Data Manager and Google Ads destinations.
 *
 * Google's rules differ from Meta's and ECAPI's in three places that change the hash: gmail/googlemail
 * addresses lose every `.` in the local part, phones keep the `+` of E.164, and postal / region codes are
 * sent in the clear. Values that already are SHA-256 hex digests (64 hex chars) pass through, so a source
 * that hashes upstream still matches.
 *
 * @example
 *   googleEmailHash('Test.User@Gmail.com ') // sha256('testuser@gmail.com') = 'dae9c7c5…'
 *   googlePhoneHash('(800)555-0100')         // sha256('+18005550100')       = 'fb4f73a6…'
 */
import type { Address, UserData } from '../model/ecapi.ts'
import { hashWith, isSha256 } from './hash.ts'
import { toE164 } from './phone.ts'

/** Only these two domains ignore dots in the local part (Google's published email sample). */
const DOTLESS_DOMAINS = new Set(['gmail.com', 'googlemail.com'])

/**
 * Email: remove all whitespace, lowercase, and for gmail.com / googlemail.com remove every `.` of the
 * local part. `+tag`s are kept: Google documents no tag stripping.
 *
 * @example normalizeGoogleEmail(' J.O.H.N+alias@GMAIL.com') // 'john+alias@gmail.com'
 */
export function normalizeGoogleEmail(raw: string): string {
  const email = raw.replace(/\s+/g, '').toLowerCase()
  const at = email.lastIndexOf('@')
  if (at <= 0 || at === email.length - 1) return email
  const local = email.slice(0, at)
  const domain = email.slice(at + 1)
  return DOTLESS_DOMAINS.has(domain) ? `${local.replaceAll('.', '')}@${domain}` : email
}

/**
 * Phone: E.164 with the `+` (Google hashes the `+`), read in `defaultRegion` when no country code is given.
 * Returns '' for something that is not a phone number, so nothing is hashed.
 *
 * @example normalizeGooglePhone('(800)555-0100') // '+18005550100'
 */
export function normalizeGooglePhone(raw: string, defaultRegion = 'US'): string {
  return toE164(raw, defaultRegion) ?? ''
}

/** Honorifics Google asks to drop before hashing a given name ("no prefixes such as Mrs."). */
const NAME_PREFIXES = new Set(['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof', 'sir', 'madam', 'rev'])
/** Generational and professional suffixes Google asks to drop from a family name ("no suffixes such as Jr."). */
const NAME_SUFFIXES = new Set(['jr', 'sr', 'ii', 'iii', 'iv', 'v', 'md', 'phd', 'esq', 'dds'])

/** Lowercase, punctuation removed (letters with accents kept), whitespace collapsed and trimmed. */
function cleanWords(raw: string): string[] {
  return raw
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\s]/gu, '')
    .split(/\s+/)
    .filter((w) => w !== '')
}

/**
 * Given name: lowercase, no punctuation, no leading prefix (Mr, Mrs, Dr…), single spaces.
 *
 * @example normalizeGoogleGivenName(' Mrs. Mary-Ann ') // 'maryann'
 */
export function normalizeGoogleGivenName(raw: string): string {
  const words = cleanWords(raw)
  while (words.length > 1 && NAME_PREFIXES.has(words[0])) words.shift()
  return words.join(' ')
}

/**
 * Family name: lowercase, no punctuation, no trailing suffix (Jr, Sr, III…), single spaces.
 *
 * @example normalizeGoogleFamilyName(' Gomes Jr. ') // 'gomes'
 */
export function normalizeGoogleFamilyName(raw: string): string {
  const words = cleanWords(raw)
  while (words.length > 1 && NAME_SUFFIXES.has(words[words.length - 1])) words.pop()
  return words.join(' ')
}

/**
 * Street address (conversion adjustments only): lowercase, trimmed, single spaces (the Ads API proto's rule).
 *
 * @example normalizeGoogleStreet(' 71 Cherry  Court ') // '71 cherry court'
 */
export function normalizeGoogleStreet(raw: string): string {
  return raw.toLowerCase().replace(/\s+/g, ' ').trim()
}

/** SHA-256 of the normalized email, or the given digest. @example googleEmailHash('test@gmail.com') // '87924606…' */
export const googleEmailHash = (raw: string | undefined): string | undefined =>
  hashWith(normalizeGoogleEmail, raw)

/** SHA-256 of the E.164 phone, or the given digest. @example googlePhoneHash('+1 212-555-0000') // '7c8d08bf…' */
export const googlePhoneHash = (raw: string | undefined, defaultRegion = 'US'): string | undefined =>
  hashWith((s) => normalizeGooglePhone(s, defaultRegion), raw)

/** SHA-256 of the normalized given name. @example googleGivenNameHash(' Jane ') // '81f8f6dd…' */
export const googleGivenNameHash = (raw: string | undefined): string | undefined =>
  hashWith(normalizeGoogleGivenName, raw)

/** SHA-256 of the normalized family name. @example googleFamilyNameHash('Gomes') // '12918b23…' */
export const googleFamilyNameHash = (raw: string | undefined): string | undefined =>
  hashWith(normalizeGoogleFamilyName, raw)

/** SHA-256 of the normalized street. @example googleStreetHash('71 Cherry Court') */
export const googleStreetHash = (raw: string | undefined): string | undefined =>
  hashWith(normalizeGoogleStreet, raw)

/**
 * Region code in the clear: ISO 3166-1 alpha-2, uppercase. Anything else (a hash, a country name) → undefined.
 *
 * @example googleRegionCode(' us ') // 'US'
 */
export function googleRegionCode(raw: string | undefined): string | undefined {
  const code = raw?.trim().toUpperCase()
  return code && /^[A-Z]{2}$/.test(code) ? code : undefined
}

/**
 * Postal code in the clear: trimmed; US ZIP+4 cut to the 5-digit ZIP Google matches on. A hashed postal code
 * cannot be un-hashed, so it yields undefined (and the address identifier is dropped).
 *
 * @example googlePostalCode('10001-1234', 'US') // '10001'
 */
export function googlePostalCode(raw: string | undefined, regionCode?: string): string | undefined {
  const code = raw?.trim()
  if (!code || isSha256(code)) return undefined
  const zip = /^(\d{5})-?\d{4}$/.exec(code)
  return regionCode === 'US' && zip ? zip[1] : code
}

/** A Data Manager `AddressInfo`: names hashed, region and postal code in the clear. */
export interface GoogleAddress {
  givenName: string
  familyName: string
  regionCode: string
  postalCode: string
}

/** The hashed identifiers closeloop can offer Google for one person, deduplicated, in priority order. */
export interface GoogleIdentifiers {
  emails: string[]
  phones: string[]
  addresses: GoogleAddress[]
}

const asList = <V>(v: V | V[] | undefined): V[] => (v === undefined ? [] : Array.isArray(v) ? v : [v])
const unique = (values: (string | undefined)[]): string[] => [
  ...new Set(values.filter((v): v is string => !!v)),
]

/**
 * An address usable by Google needs all four parts (Data Manager marks each one required).
 *
 * @example googleAddress({ first_name: 'Jane', last_name: 'Smith', country_code: 'us', postal_code: '10001' })
 */
export function googleAddress(address: Address): GoogleAddress | undefined {
  const regionCode = googleRegionCode(address.country_code)
  const postalCode = googlePostalCode(address.postal_code, regionCode)
  const givenName = googleGivenNameHash(address.first_name)
  const familyName = googleFamilyNameHash(address.last_name)
  if (!regionCode || !postalCode || !givenName || !familyName) return undefined
  return { givenName, familyName, regionCode, postalCode }
}

/**
 * Every identifier in `user_data` plus the caller's number, normalized and hashed the Google way.
 * The caller comes after the listed phones: a number the person typed in beats the line they called from.
 *
 * @example
 *   googleIdentifiers({ email_address: 'a@b.co' }, '+12125550000')
 *   // { emails: [sha('a@b.co')], phones: [sha('+12125550000')], addresses: [] }
 */
export function googleIdentifiers(
  userData: UserData | undefined,
  caller?: string,
  defaultRegion = 'US',
): GoogleIdentifiers {
  const emails = unique(asList(userData?.email_address).map((e) => googleEmailHash(e)))
  const phones = unique(
    [...asList(userData?.phone_numbers), caller].map((p) => googlePhoneHash(p, defaultRegion)),
  )
  const seen = new Set<string>()
  const addresses: GoogleAddress[] = []
  for (const a of asList(userData?.address)) {
    const g = googleAddress(a)
    const key = g && JSON.stringify(g)
    if (g && key && !seen.has(key)) {
      seen.add(key)
      addresses.push(g)
    }
  }
  return { emails, phones, addresses }
}
