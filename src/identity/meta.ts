/**
 * Meta's PII normalization and SHA-256 for the Conversions API `user_data` keys (em, ph, fn, ln, ge, db,
 * ct, st, zp, country, external_id).
 *
 * The rules are Meta's own, as published in the CAPI docs and implemented by Meta's current normalizer
 * (`capi-param-builder`, which the official SDK delegates to). Our tests assert hash equality against that
 * package on thousands of generated inputs per key. The places where we deliberately differ are few and
 * each is named in a `DIFFERS FROM capi-param-builder` comment below and in `meta.test.ts`:
 *   1. phone: a number without a country code is read in a default region (Meta would hash it without one,
 *      which can never match; the reference says to prepend the country code ourselves), and a number that
 *      libphonenumber can parse is taken from its E.164 form (drops a `(0)` trunk prefix and extensions);
 *   2. values that are numbers (a ZIP from YAML) are stringified instead of dropped;
 *   3. a value already hashed by the param builder (`<hex>.<appendix>`) is sent as bare lowercase hex.
 *
 * Already-hashed values pass through: 64 hex (SHA-256) and 32 hex (MD5), exactly like both SDK generations.
 *
 * @example
 *   hashMeta('em', '  Person@Example.com ') // '542d2401…3345'
 *   hashMeta('ph', '(510) 555-0011')        // sha256('15105550011'): US region added
 *   hashMeta('st', 'California')            // sha256('ca')
 */
import { sha256Hex } from './hash.ts'
import { toE164 } from './phone.ts'

export type MetaHashedKey =
  | 'em'
  | 'ph'
  | 'fn'
  | 'ln'
  | 'ge'
  | 'db'
  | 'ct'
  | 'st'
  | 'zp'
  | 'country'
  | 'external_id'

/** SHA-256 (64) or MD5 (32) hex: both SDK generations send these unchanged (lowercased). */
const ALREADY_HASHED = /^(?:[a-f0-9]{64}|[a-f0-9]{32})$/i
/**
 * The param builder's own output, `<hex>.<appendix>`: a 2-character language token or an 8-character
 * version tag after the last dot.
 */
const PARAM_BUILDER_TOKENS = new Set(['AQ', 'Ag', 'Aw', 'BA', 'BQ', 'Bg'])

/**
 * The hash in `raw` if it already is one (SHA-256, MD5, or param-builder `<hex>.<appendix>`), lowercased.
 *
 * @example
 *   alreadyHashed(' 542D240129883C019E106E3B1B2D3F3CB3537C43C425364DE8E951D5A3083345 ') // '542d…3345'
 */
export function alreadyHashed(raw: string): string | undefined {
  const t = raw.trim()
  if (ALREADY_HASHED.test(t)) return t.toLowerCase()
  const dot = t.lastIndexOf('.')
  if (dot === -1) return undefined
  const suffix = t.slice(dot + 1)
  // DIFFERS FROM capi-param-builder (3): it forwards the appendix; Meta accepts both, bare hex is our one shape
  if ((PARAM_BUILDER_TOKENS.has(suffix) || suffix.length === 8) && ALREADY_HASHED.test(t.slice(0, dot)))
    return t.slice(0, dot).toLowerCase()
  return undefined
}

// ---------------------------------------------------------------------------------------------------------
// em

/**
 * Meta's RFC 2822 approximation. The `(?::?\.…)` allows an optional `:` before each dot of the local part:
 * it mirrors a quirk of Meta's pattern (`(:?\.` where `(?:\.` was meant) so that we accept and reject
 * exactly the same strings Meta does.
 */
const EMAIL_RE =
  /^[\w!#$%&'*+/=?^`{|}~-]+(?::?\.[\w!#$%&'*+/=?^`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i

/**
 * Lowercase and trim; anything that does not look like an email is dropped. No gmail dot or `+tag` removal.
 *
 * @example
 *   normalizeMetaEmail('  John_Smith@gmail.com ') // 'john_smith@gmail.com'
 */
export function normalizeMetaEmail(raw: string): string | undefined {
  const s = raw.toLowerCase().trim()
  return EMAIL_RE.test(s) ? s : undefined
}

// ---------------------------------------------------------------------------------------------------------
// ph

/**
 * Meta's own phone rule: keep ASCII digits, then drop every leading zero (so `+001…` and `001…` lose the
 * international prefix). It cannot add a missing country code; `normalizeMetaPhone` does that.
 *
 * @example
 *   metaPhoneDigits('+44 844 412 4653') // '448444124653'
 */
export function metaPhoneDigits(raw: string): string | undefined {
  const digits = raw.replace(/[^0-9]/g, '').replace(/^0+/, '')
  return digits === '' ? undefined : digits
}

/**
 * The Meta `ph` value: E.164 digits without `+`. A number without a country code is read in
 * `defaultRegion`; a number libphonenumber cannot parse falls back to Meta's digit rule, but only when it
 * was written with an international prefix (`+` or `00`), because otherwise the country is unknowable.
 *
 * DIFFERS FROM capi-param-builder (1): Meta hashes `(212) 555-0000` as `2125550000`, which never matches a
 * US profile; we send `12125550000` (the reference's instruction: "prepend 1 yourself").
 *
 * @example
 *   normalizeMetaPhone('(212) 555-0000')   // '12125550000'
 *   normalizeMetaPhone('020 7946 0958', 'GB') // '442079460958'
 */
export function normalizeMetaPhone(raw: string, defaultRegion = 'US'): string | undefined {
  const e164 = safeE164(raw, defaultRegion)
  if (e164 && e164.length - 1 >= PHONE_MIN_DIGITS) return e164.slice(1)
  return /^\s*(?:\+|00)/.test(raw) ? metaPhoneDigits(raw) : undefined
}

/** Fewer digits than this, country code included, is no reachable subscriber (the older Meta SDK's floor). */
const PHONE_MIN_DIGITS = 7

function safeE164(raw: string, region: string): string | undefined {
  try {
    return toE164(raw, region)
  } catch {
    // libphonenumber throws on an unknown default region; treat it like an unparseable number
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------------
// fn, ln, external_id

/** Whitespace and ASCII punctuation (`!"#$%&'()*+,-./:;<=>?@[\]^_\`{|}~`), Meta's strip set for names. */
const WHITESPACE_AND_PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~\s]+/g

/**
 * Names: strip whitespace and ASCII punctuation, lowercase; non-Latin letters are kept as UTF-8.
 * (Meta strips only ASCII punctuation, so a typographic apostrophe in `O’Connor` is kept, as Meta keeps it.)
 *
 * @example
 *   normalizeMetaName("O'Connor") // 'oconnor'
 *   normalizeMetaName('José')     // 'josé'
 */
export function normalizeMetaName(raw: string): string | undefined {
  const s = raw.replace(WHITESPACE_AND_PUNCTUATION, '').toLowerCase()
  return s === '' ? undefined : s
}

/**
 * `external_id`: remove whitespace, lowercase (the newest SDK always hashes it).
 *
 * @example
 *   normalizeMetaExternalId(' EXTERNAL 123 ') // 'external123'
 */
export function normalizeMetaExternalId(raw: string): string | undefined {
  const s = raw.replace(/\s+/g, '').toLowerCase()
  return s === '' ? undefined : s
}

// ---------------------------------------------------------------------------------------------------------
// ge

// Meta maps a vocabulary of gendered English words, not only `m`/`male`; same sets, so hashes agree.
const MALE_WORDS = new Set(
  (
    'm man male boy gentleman guy sir mister mr son father dad daddy papa uncle nephew brother husband ' +
    'boyfriend groom widower king prince duke count emperor god lord lad fellow chap bloke dude he him his himself'
  ).split(' '),
)
const FEMALE_WORDS = new Set(
  (
    "f woman female girl lady miss ms mrs madam ma'am daughter mother mom mama mommy aunt niece sister wife " +
    'girlfriend bride widow queen princess duchess countess empress goddess maiden lass gal chick dame belle ' +
    'she her hers herself'
  ).split(' '),
)

/**
 * `ge`: `m` or `f`; anything else is dropped (Meta has no third value).
 *
 * @example
 *   normalizeMetaGender(' Female ') // 'f'
 */
export function normalizeMetaGender(raw: string): string | undefined {
  const s = raw.toLowerCase().trim()
  if (MALE_WORDS.has(s)) return 'm'
  if (FEMALE_WORDS.has(s)) return 'f'
  return undefined
}

// ---------------------------------------------------------------------------------------------------------
// db

/** Oldest accepted birth year: Meta's bound (older values are data-entry errors). */
const DOB_MIN_YEAR = 1800

/**
 * `db` as `YYYYMMDD`. The first three digit groups are read as a date: the group above 31 is the year;
 * of the other two, one above 12 must be the day, otherwise month-first (US order) is assumed. A single
 * 8-digit group is taken as already `YYYYMMDD`. Years outside [1800, this year + 1] are dropped.
 *
 * @example
 *   normalizeMetaDob('30-06-1985') // '19850630'
 *   normalizeMetaDob('12/31/1990') // '19901231'
 *   normalizeMetaDob('1990-12-31') // '19901231'
 */
export function normalizeMetaDob(raw: string, currentYear = new Date().getFullYear()): string | undefined {
  const groups = raw
    .replace(/\D/g, ' ')
    .split(' ')
    .filter((g) => g !== '')
  if (groups.length >= 3) {
    const [a, b, c] = groups.slice(0, 3).map((g) => Number.parseInt(g, 10))
    const date = pickDate(a, b, c, currentYear)
    if (date) return date
  }
  if (groups.length === 1 && groups[0].length === 8) return groups[0]
  return undefined
}

function pickDate(a: number, b: number, c: number, currentYear: number): string | undefined {
  let year: number
  let month: number
  let day: number
  if (a > 31) [year, month, day] = b > 12 ? [a, c, b] : [a, b, c]
  else if (b > 31) [year, month, day] = c > 12 ? [b, a, c] : [b, c, a]
  else [year, month, day] = a > 12 ? [c, b, a] : [c, a, b]
  if (year < DOB_MIN_YEAR || year > currentYear + 1) return undefined
  // Meta checks only the ranges, not the calendar (31 February passes), and so must we to hash alike
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined
  return String(year).padStart(4, '0') + String(month).padStart(2, '0') + String(day).padStart(2, '0')
}

// ---------------------------------------------------------------------------------------------------------
// ct, zp

/**
 * `ct`: keep Latin letters and digits only, lowercase; must start with a letter.
 *
 * @example
 *   normalizeMetaCity('St. Louis') // 'stlouis'
 */
export function normalizeMetaCity(raw: string): string | undefined {
  const s = raw.replace(/[^a-zA-Z0-9]+/g, '').toLowerCase()
  return /^[a-z]/.test(s) ? s : undefined
}

/** Shortest postal code Meta keeps; one character is never a real code. */
const ZIP_MIN_LENGTH = 2

/**
 * `zp`: lowercase, keep what precedes the first `-` (ZIP+4 → ZIP), trim. Inner spaces stay (`sw1a 1aa`),
 * as Meta keeps them.
 *
 * @example
 *   normalizeMetaZip('37221-3312') // '37221'
 */
export function normalizeMetaZip(raw: string): string | undefined {
  const s = raw.toLowerCase().split('-', 1)[0].trim()
  return s.length >= ZIP_MIN_LENGTH ? s : undefined
}

// ---------------------------------------------------------------------------------------------------------
// st, country

/** Canadian provinces and territories, then US states: names squeezed to a-z, ISO 3166-2 subdivision codes. */
const STATE_CODES: Record<string, string> = pairs(
  'ontario on quebec qc britishcolumbia bc alberta ab saskatchewan sk manitoba mb novascotia ns newbrunswick nb ' +
    'princeedwardisland pe newfoundlandandlabrador nl yukon yt northwestterritories nt nunavut nu ' +
    'alabama al alaska ak arizona az arkansas ar california ca colorado co connecticut ct delaware de florida fl ' +
    'georgia ga hawaii hi idaho id illinois il indiana in iowa ia kansas ks kentucky ky louisiana la maine me ' +
    'maryland md massachusetts ma michigan mi minnesota mn mississippi ms missouri mo montana mt nebraska ne ' +
    'nevada nv newhampshire nh newjersey nj newmexico nm newyork ny northcarolina nc northdakota nd ohio oh ' +
    'oklahoma ok oregon or pennsylvania pa rhodeisland ri southcarolina sc southdakota sd tennessee tn texas tx ' +
    'utah ut vermont vt virginia va washington wa westvirginia wv wisconsin wi wyoming wy',
)

/**
 * Country names (ISO 3166-1 English short names and common variants) squeezed to a-z → alpha-2 code.
 * Order matters for names found *inside* a longer input (see `twoLetterCode`): the US variants first,
 * then alphabetical, as Meta scans them.
 */
const COUNTRY_CODES: Record<string, string> = pairs(
  'unitedstates us usa us ind in afghanistan af alandislands ax albania al algeria dz americansamoa as andorra ad ' +
    'angola ao anguilla ai antarctica aq antiguaandbarbuda ag argentina ar armenia am aruba aw australia au ' +
    'austria at azerbaijan az bahamas bs bahrain bh bangladesh bd barbados bb belarus by belgium be belize bz ' +
    'benin bj bermuda bm bhutan bt boliviaplurinationalstateof bo bolivia bo bonairesinteustatiusandsaba bq ' +
    'bosniaandherzegovina ba botswana bw bouvetisland bv brazil br ' +
    'britishindianoceanterritory io bruneidarussalam bn brunei bn bulgaria bg burkinafaso bf burundi bi ' +
    'cambodia kh cameroon cm canada ca capeverde cv caymanislands ky centralafricanrepublic cf chad td chile cl ' +
    'china cn christmasisland cx cocoskeelingislands cc colombia co comoros km congo cg ' +
    'congothedemocraticrepublicofthe cd democraticrepublicofthecongo cd cookislands ck costarica cr ' +
    'cotedivoire ci ivorycoast ci croatia hr cuba cu curacao cw cyprus cy czechrepublic cz denmark dk djibouti dj ' +
    'dominica dm dominicanrepublic do ecuador ec egypt eg elsalvador sv equatorialguinea gq eritrea er ' +
    'estonia ee ethiopia et falklandislandsmalvinas fk faroeislands fo fiji fj finland fi france fr ' +
    'frenchguiana gf frenchpolynesia pf frenchsouthernterritories tf gabon ga gambia gm georgia ge germany de ' +
    'ghana gh gibraltar gi greece gr greenland gl grenada gd guadeloupe gp guam gu guatemala gt guernsey gg ' +
    'guinea gn guineabissau gw guyana gy haiti ht heardislandandmcdonaldislands hm ' +
    'holyseevaticancitystate va vatican va honduras hn hongkong hk hungary hu iceland is india in ' +
    'indonesia id iranislamicrepublicof ir iran ir iraq iq ireland ie isleofman im israel il italy it ' +
    'jamaica jm japan jp jersey je jordan jo kazakhstan kz kenya ke kiribati ki ' +
    'koreademocraticpeoplesrepublicof kp northkorea kp korearepublicof kr southkorea kr kuwait kw ' +
    'kyrgyzstan kg laopeoplesdemocraticrepublic la laos la latvia lv lebanon lb lesotho ls liberia lr libya ly ' +
    'liechtenstein li lithuania lt luxembourg lu macao mo macedoniatheformeryugoslavrepublicof mk macedonia mk ' +
    'madagascar mg malawi mw malaysia my maldives mv mali ml malta mt marshallislands mh martinique mq ' +
    'mauritania mr mauritius mu mayotte yt mexico mx micronesiafederatedstatesof fm micronesia fm ' +
    'moldovarepublicof md moldova md monaco mc mongolia mn montenegro me montserrat ms morocco ma ' +
    'mozambique mz myanmar mm namibia na nauru nr nepal np netherlands nl newcaledonia nc newzealand nz ' +
    'nicaragua ni niger ne nigeria ng niue nu norfolkisland nf northernmarianaislands mp norway no oman om ' +
    'pakistan pk palau pw palestinestateof ps palestine ps panama pa papuanewguinea pg paraguay py peru pe ' +
    'philippines ph pitcairn pn poland pl portugal pt puertorico pr qatar qa reunion re romania ro ' +
    'russianfederation ru russia ru rwanda rw saintbarthelemy bl sainthelenaascensionandtristandacunha sh ' +
    'saintkittsandnevis kn saintlucia lc saintmartinfrenchpart mf saintpierreandmiquelon pm ' +
    'saintvincentandthegrenadines vc samoa ws sanmarino sm saotomeandprincipe st saudiarabia sa senegal sn ' +
    'serbia rs seychelles sc sierraleone sl singapore sg sintmaartendutchpart sx ' +
    'slovakia sk slovenia si solomonislands sb somalia so southafrica za ' +
    'southgeorgiaandthesouthsandwichislands gs southsudan ss spain es srilanka lk sudan sd suriname sr ' +
    'svalbardandjanmayen sj eswatini sz swaziland sz sweden se switzerland ch syrianarabrepublic sy syria sy ' +
    'taiwanprovinceofchina tw taiwan tw tajikistan tj tanzaniaunitedrepublicof tz tanzania tz thailand th ' +
    'timorleste tl easttimor tl togo tg tokelau tk tonga to trinidadandtobago tt tunisia tn turkey tr ' +
    'turkmenistan tm turksandcaicosislands tc tuvalu tv uganda ug ukraine ua unitedarabemirates ae ' +
    'unitedkingdom gb unitedstatesofamerica us unitedstatesminoroutlyingislands um uruguay uy uzbekistan uz ' +
    'vanuatu vu venezuelabolivarianrepublicof ve venezuela ve vietnam vn virginislandsbritish vg ' +
    'virginislandsus vi wallisandfutuna wf westernsahara eh yemen ye zambia zm zimbabwe zw',
)

function pairs(list: string): Record<string, string> {
  const words = list.split(' ')
  const out: Record<string, string> = {}
  for (let i = 0; i < words.length; i += 2) out[words[i]] = words[i + 1]
  return out
}

/**
 * Meta's two-letter rule for `st` and `country`: squeeze to a-z; a 2-letter value is already a code; a known
 * name maps to its code; an input that *contains* a known name (`State of California`) maps to that name's
 * code; anything else is cut to its first two letters.
 *
 * @example
 *   twoLetterCode('New York', STATE_CODES) // 'ny'
 */
function twoLetterCode(raw: string, names: Record<string, string>): string | undefined {
  const s = raw
    .toLowerCase()
    .trim()
    .replace(/[^a-z]/g, '')
  if (s === '') return undefined
  if (s.length <= 2) return s
  const direct = names[s]
  if (direct) return direct
  for (const name of Object.keys(names)) if (s.includes(name)) return names[name]
  return s.slice(0, 2)
}

/**
 * `st`: two-letter code, lowercase (`California` → `ca`); unknown names are cut to two letters.
 *
 * @example
 *   normalizeMetaState(' CA ') // 'ca'
 */
export function normalizeMetaState(raw: string): string | undefined {
  return twoLetterCode(raw, STATE_CODES)
}

/**
 * `country`: ISO 3166-1 alpha-2, lowercase (`United States`, `usa`, `US` → `us`).
 *
 * @example
 *   normalizeMetaCountry('United Kingdom') // 'gb'
 */
export function normalizeMetaCountry(raw: string): string | undefined {
  return twoLetterCode(raw, COUNTRY_CODES)
}

// ---------------------------------------------------------------------------------------------------------
// hashing

export interface MetaHashOptions {
  /** Region for phone numbers written without a country code (ISO 3166-1 alpha-2). */
  phoneRegion?: string
  /** For `db`: the year that bounds plausible birth years (tests pin it). */
  currentYear?: number
}

/**
 * The normalized (pre-hash) value of one Meta key, or undefined when Meta would drop it.
 *
 * @example
 *   normalizeMeta('ln', "O'Connor") // 'oconnor'
 */
export function normalizeMeta(
  key: MetaHashedKey,
  raw: string,
  opts: MetaHashOptions = {},
): string | undefined {
  switch (key) {
    case 'em':
      return normalizeMetaEmail(raw)
    case 'ph':
      return normalizeMetaPhone(raw, opts.phoneRegion)
    case 'fn':
    case 'ln':
      return normalizeMetaName(raw)
    case 'ge':
      return normalizeMetaGender(raw)
    case 'db':
      return normalizeMetaDob(raw, opts.currentYear)
    case 'ct':
      return normalizeMetaCity(raw)
    case 'st':
      return normalizeMetaState(raw)
    case 'zp':
      return normalizeMetaZip(raw)
    case 'country':
      return normalizeMetaCountry(raw)
    case 'external_id':
      return normalizeMetaExternalId(raw)
  }
}

/**
 * Normalize per Meta's rules and SHA-256 (lowercase hex). Already-hashed input passes through lowercased.
 * Returns undefined for empty input or input Meta would drop (an invalid email, an unknown gender…).
 *
 * DIFFERS FROM capi-param-builder (2): numbers are stringified (a ZIP read from YAML), Meta drops them.
 *
 * @example
 *   hashMeta('ge', 'Female') // '252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111'
 */
export function hashMeta(
  key: MetaHashedKey,
  raw: string | number | null | undefined,
  opts: MetaHashOptions = {},
): string | undefined {
  if (raw === null || raw === undefined) return undefined
  const value = typeof raw === 'number' ? (Number.isFinite(raw) ? String(raw) : '') : raw
  if (value === '') return undefined
  const hashed = alreadyHashed(value)
  if (hashed) return hashed
  const normalized = normalizeMeta(key, value, opts)
  return normalized === undefined ? undefined : sha256Hex(normalized)
}

/**
 * Hash a scalar-or-array field, dropping invalid values and duplicates (case variants of one email hash
 * the same, and Meta counts a repeated identifier once anyway).
 *
 * @example
 *   hashMetaAll('em', ['A@x.io', 'a@x.io ', 'nope']) // ['<sha256 of a@x.io>']
 */
export function hashMetaAll(
  key: MetaHashedKey,
  raw: ReadonlyArray<string | number | null | undefined> | string | number | null | undefined,
  opts: MetaHashOptions = {},
): string[] {
  const list = Array.isArray(raw) ? raw : [raw]
  const out: string[] = []
  for (const v of list) {
    const h = hashMeta(key, v as string | number | null | undefined, opts)
    if (h && !out.includes(h)) out.push(h)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// fbc

/**
 * The `fbc` click cookie value built server-side from an `fbclid`: `fb.1.<click time ms>.<fbclid>`.
 * Subdomain index 1 is what server-side builders use; the fbclid is kept byte-exact (Meta compares it).
 *
 * @example
 *   buildFbc('AbCdEf', 1554763741205) // 'fb.1.1554763741205.AbCdEf'
 */
export function buildFbc(fbclid: string, clickedAtMs: number): string {
  return `fb.1.${Math.trunc(clickedAtMs)}.${fbclid}`
}
