/**
 * IAB Global Privacy Platform (GPP) strings, read server-side: which sections apply to an event and what
 * the person chose in them, normalized so that the consent decision (`consent.ts`) never sees the shape
 * differences between the 20-odd sections.
 *
 * Decoding is `@iabgpp/cmpapi`'s (the IAB Tech Lab reference implementation), one section at a time, so a
 * broken section that does not apply to the event cannot spoil the ones that do. Nothing here throws: every
 * problem becomes an `error` (the string cannot be trusted for this event; the caller fails closed) or a
 * `note` (worth recording, changes nothing).
 *
 * Field values follow the GPP section specifications (InteractiveAdvertisingBureau/Global-Privacy-Platform,
 * `Sections/`): opt-outs `0` not applicable, `1` opted out, `2` did not opt out; notices `0` not
 * applicable, `1` provided, `2` not provided; consents `0` not applicable, `1` no consent, `2` consent.
 *
 * @example
 *   const r = readGpp('DBABLA~CEAQAAAAAABA.QA', [7]) // usnat, SaleOptOutNotice 1, SaleOptOut 1
 *   r.errors                          // []
 *   r.applicable[0]                   // { kind: 'us', sid: 7, name: 'usnat', saleOptOut: 1, … }
 *   usChoice(r.applicable[0]).level   // 'opted_out'
 */
import { GppModel, HeaderV1, Sections } from '@iabgpp/cmpapi'

/** GPP section ids (GPP `Sections/Section Information.md`). 3 is the header, 4 signal integrity. */
export const SID = {
  tcfeuv2: 2,
  header: 3,
  signalIntegrity: 4,
  tcfcav1: 5,
  uspv1: 6,
  usnat: 7,
  usca: 8,
  usva: 9,
  usco: 10,
  usut: 11,
  usct: 12,
} as const

/** A US privacy section (usnat, a state, or the legacy uspv1), reduced to the fields that decide ad use. */
export interface UsSection {
  kind: 'us'
  sid: number
  name: string
  saleOptOut: number
  /** California's "sharing" (cross-context behavioural advertising); `0` where the section has none. */
  sharingOptOut: number
  targetedAdvertisingOptOut: number
  saleOptOutNotice: number
  sharingOptOutNotice: number
  targetedAdvertisingOptOutNotice: number
  /** `SharingNotice` (usnat and the first states) or `ProcessingNotice` (later states): notice of processing. */
  processingNotice: number
  /** Per category; `1` = opted out / no consent, whatever the section's wording. */
  sensitiveDataProcessing: number[]
  /** Per age band (or a single value in some states); non-zero = the business knows the person is a child. */
  knownChildSensitiveDataConsents: number[]
  /** `PersonalDataConsents` / `AdditionalDataProcessingConsent`: consent to secondary use. */
  secondaryUseConsent: number
  /** MSPA Service Provider Mode: the first party does not sell, share or target with this data. */
  serviceProviderMode: boolean
  /** Global Privacy Control, where the section carries the GPC subsection. */
  gpc: boolean
}

/** TCF EU v2 (sid 2) or TCF Canada v1 (sid 5), as sets of 1-based ids. */
export interface TcfSection {
  kind: 'tcf'
  sid: number
  name: string
  /** Purposes with consent (TCF Canada: express or implied consent). */
  purposeConsents: number[]
  purposeLegitimateInterests: number[]
  vendorConsents: number[]
  vendorLegitimateInterests: number[]
  /** 1 = precise geolocation, 2 = actively scan device characteristics. */
  specialFeatureOptins: number[]
  purposeOneTreatment: boolean
}

export type GppSection = UsSection | TcfSection

export interface GppReading {
  /** Section ids the string carries, in string order. */
  present: number[]
  /** The sections that apply to the event, decoded. */
  applicable: GppSection[]
  /** Why the string (or an applicable section) cannot be used; non-empty means "fail closed". */
  errors: string[]
  notes: string[]
}

/**
 * Decode `gppString` and pick the sections that apply. `gppSid` (ECAPI `user_data.gpp_sid`) names them;
 * without it every section in the string applies (the stricter reading: a section is only in the string
 * because the CMP thought it relevant). `[-1]` / `[0]` mean "no section applies" (the GPP CMP API's value
 * for `applicableSections` outside any regime). Header (3) and signal integrity (4) ids are ignored.
 *
 * A bare TCF v2 TC string (starts with `C`) is read as a one-section string with TCF EU v2.
 *
 * @example
 *   readGpp('not a gpp string').errors // ["gpp: cannot decode the header: …"]
 *   readGpp(usnatAndUsca, [8]).applicable.map((s) => s.name) // ['usca']
 */
export function readGpp(gppString: string, gppSid?: readonly number[]): GppReading {
  const out: GppReading = { present: [], applicable: [], errors: [], notes: [] }
  const trimmed = gppString.trim()
  let parts: { sid: number; encoded: string }[]
  if (trimmed.startsWith('C')) {
    parts = [{ sid: SID.tcfeuv2, encoded: trimmed }]
    out.notes.push('gpp: a bare TCF v2 string, read as section 2 (tcfeuv2)')
  } else {
    const split = splitGpp(trimmed)
    if (typeof split === 'string') {
      out.errors.push(split)
      return out
    }
    parts = split
  }
  out.present = parts.map((p) => p.sid)

  const wanted = gppSid?.filter((id) => id !== SID.header && id !== SID.signalIntegrity)
  if (wanted && wanted.length > 0 && wanted.every((id) => id <= 0)) {
    out.notes.push(`gpp_sid ${JSON.stringify(gppSid)}: no section applies`)
    return out
  }
  const applies = (sid: number) => !wanted || wanted.length === 0 || wanted.includes(sid)
  if (!wanted || wanted.length === 0) out.notes.push('gpp_sid absent: every section in the string applies')
  for (const id of wanted ?? []) {
    if (id > 0 && !out.present.includes(id))
      out.errors.push(`gpp_sid lists section ${id}, which the string does not carry`)
  }

  for (const { sid, encoded } of parts) {
    const name = Sections.SECTION_ID_NAME_MAP.get(sid) ?? `sid ${sid}`
    if (!applies(sid)) {
      out.notes.push(`gpp ${name} (${sid}): present, not in gpp_sid, ignored`)
      continue
    }
    // a blank section counts only where it applies: one gpp_sid does not name is ignored, broken or not
    const section = encoded.trim() === '' ? 'the section is blank' : decodeSection(sid, encoded)
    if (typeof section === 'string') out.errors.push(`gpp ${name} (${sid}): ${section}`)
    else out.applicable.push(section)
  }
  return out
}

/** Header + one encoded part per section id, or the reason it is not a GPP string. */
function splitGpp(s: string): { sid: number; encoded: string }[] | string {
  if (!s.startsWith('D')) return 'gpp: not a GPP string (a GPP string starts with the header, "D...")'
  const [header, ...encoded] = s.split('~')
  let ids: unknown
  try {
    ids = new HeaderV1(header).getFieldValue('SectionIds')
  } catch (err) {
    return `gpp: cannot decode the header: ${message(err)}`
  }
  if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id)))
    return 'gpp: the header carries no section id list'
  if (ids.length !== encoded.length)
    return `gpp: the header lists ${ids.length} section(s) but the string carries ${encoded.length}`
  return ids.map((sid: number, i) => ({ sid, encoded: encoded[i] }))
}

/** One section through the reference decoder, normalized; or why it cannot be read. */
function decodeSection(sid: number, encoded: string): GppSection | string {
  const name = Sections.SECTION_ID_NAME_MAP.get(sid)
  if (!name) return 'section id not supported by the decoder'
  let obj: unknown
  try {
    const model = new GppModel()
    model.decodeSectionById(sid, encoded)
    // The reference sections decode lazily: reading the object is what surfaces a DecodingError.
    obj = model.getSection(name)
  } catch (err) {
    return `cannot decode: ${message(err)}`
  }
  if (!isRecord(obj)) return 'cannot decode: empty section'
  if (sid === SID.tcfeuv2 || sid === SID.tcfcav1) return tcfSection(sid, name, obj)
  if (sid === SID.uspv1) return uspSection(obj)
  return usSection(sid, name, obj)
}

function usSection(sid: number, name: string, f: Record<string, unknown>): UsSection {
  const mspaMode = int(f.MspaMode)
  return {
    kind: 'us',
    sid,
    name,
    saleOptOut: int(f.SaleOptOut),
    sharingOptOut: int(f.SharingOptOut),
    targetedAdvertisingOptOut: int(f.TargetedAdvertisingOptOut),
    saleOptOutNotice: int(f.SaleOptOutNotice),
    sharingOptOutNotice: int(f.SharingOptOutNotice),
    targetedAdvertisingOptOutNotice: int(f.TargetedAdvertisingOptOutNotice),
    processingNotice: Math.max(int(f.SharingNotice), int(f.ProcessingNotice)),
    sensitiveDataProcessing: ints(f.SensitiveDataProcessing),
    knownChildSensitiveDataConsents: ints(f.KnownChildSensitiveDataConsents),
    secondaryUseConsent: Math.max(int(f.PersonalDataConsents), int(f.AdditionalDataProcessingConsent)),
    // usnat and most states have MspaServiceProviderMode (1 = yes); usin/usky/usri/usmd fold it into MspaMode (2).
    serviceProviderMode: int(f.MspaServiceProviderMode) === 1 || mspaMode === 2,
    gpc: f.Gpc === true,
  }
}

/** The CCPA-era US Privacy string ("1YNN"): Notice, OptOutSale as Y/N/-. Mapped onto the US shape. */
function uspSection(f: Record<string, unknown>): UsSection {
  const yn = (v: unknown, yes: number, no: number) => (v === 'Y' ? yes : v === 'N' ? no : 0)
  return {
    kind: 'us',
    sid: SID.uspv1,
    name: 'uspv1',
    saleOptOut: yn(f.OptOutSale, 1, 2),
    sharingOptOut: 0,
    targetedAdvertisingOptOut: 0,
    saleOptOutNotice: yn(f.Notice, 1, 2),
    sharingOptOutNotice: 0,
    targetedAdvertisingOptOutNotice: 0,
    processingNotice: 0,
    sensitiveDataProcessing: [],
    knownChildSensitiveDataConsents: [],
    secondaryUseConsent: 0,
    serviceProviderMode: false,
    gpc: false,
  }
}

function tcfSection(sid: number, name: string, f: Record<string, unknown>): TcfSection {
  if (sid === SID.tcfcav1) {
    // Canada allows implied consent; the express/implied split does not change what may be sent.
    return {
      kind: 'tcf',
      sid,
      name,
      purposeConsents: union(bits(f.PurposesExpressConsent), bits(f.PurposesImpliedConsent)),
      purposeLegitimateInterests: [],
      vendorConsents: union(ints(f.VendorExpressConsent), ints(f.VendorImpliedConsent)),
      vendorLegitimateInterests: [],
      specialFeatureOptins: bits(f.SpecialFeatureExpressConsent),
      purposeOneTreatment: false,
    }
  }
  return {
    kind: 'tcf',
    sid,
    name,
    purposeConsents: bits(f.PurposeConsents),
    purposeLegitimateInterests: bits(f.PurposeLegitimateInterests),
    vendorConsents: ints(f.VendorConsents),
    vendorLegitimateInterests: ints(f.VendorLegitimateInterests),
    specialFeatureOptins: bits(f.SpecialFeatureOptins),
    purposeOneTreatment: f.PurposeOneTreatment === true,
  }
}

/**
 * What a US section says about ad use:
 * - `opted_out`: the person opted out of sale, sharing or targeted advertising (or sent GPC), or the
 *   business gave no notice it could rely on, or a known child has no consent → no PII, no ad use;
 * - `limited`: MSPA Service Provider Mode, or a known child with consent → the platform may only act as a
 *   service provider / no personalised ads;
 * - `not_opted_out`: notice given and the person did not opt out → ad use allowed;
 * - `silent`: nothing applicable (all fields 0).
 *
 * `sensitive: 'restrict'` also treats any sensitive-data category without consent as `opted_out`, for
 * verticals whose conversions themselves reveal such data (health insurance, for example).
 *
 * @example usChoice({ ...usnat, saleOptOut: 1 }).level // 'opted_out'
 */
export function usChoice(
  s: UsSection,
  sensitive: 'record' | 'restrict' = 'record',
): { level: 'opted_out' | 'limited' | 'not_opted_out' | 'silent'; reasons: string[] } {
  const at = `gpp ${s.name} (${s.sid})`
  const out: string[] = []
  const lim: string[] = []
  const info: string[] = []
  if (s.saleOptOut === 1) out.push(`${at}: opted out of sale`)
  if (s.sharingOptOut === 1) out.push(`${at}: opted out of sharing`)
  if (s.targetedAdvertisingOptOut === 1) out.push(`${at}: opted out of targeted advertising`)
  if (s.gpc) out.push(`${at}: Global Privacy Control set (an opt-out of sale and sharing)`)
  // Without the notice the person never had the chance to opt out, so the sale/targeting has no footing.
  if (s.saleOptOutNotice === 2) out.push(`${at}: no notice of the right to opt out of sale`)
  if (s.sharingOptOutNotice === 2) out.push(`${at}: no notice of the right to opt out of sharing`)
  if (s.targetedAdvertisingOptOutNotice === 2)
    out.push(`${at}: no notice of the right to opt out of targeted advertising`)
  if (s.processingNotice === 2) out.push(`${at}: no notice of processing / sharing with third parties`)
  if (s.knownChildSensitiveDataConsents.includes(1)) out.push(`${at}: known child without consent`)
  else if (s.knownChildSensitiveDataConsents.includes(2))
    lim.push(`${at}: known child (consented): no personalised ads`)
  if (s.serviceProviderMode) lim.push(`${at}: MSPA service provider mode`)
  const noSensitive = s.sensitiveDataProcessing.flatMap((v, i) => (v === 1 ? [i + 1] : []))
  if (noSensitive.length > 0) {
    const what = `${at}: sensitive data categories ${noSensitive.join(',')} without consent`
    if (sensitive === 'restrict') out.push(`${what} (sensitive_data: restrict)`)
    else info.push(`${what} (recorded; sensitive_data: record)`)
  }
  if (s.secondaryUseConsent === 1) info.push(`${at}: no consent to secondary use (recorded)`)
  if (out.length > 0) return { level: 'opted_out', reasons: [...out, ...lim, ...info] }
  if (lim.length > 0) return { level: 'limited', reasons: [...lim, ...info] }
  // a choice not to opt out counts only where the person was told they could (the notice = 1): with the
  // notice "not applicable" (0), SaleOptOut = 2 granted even over a denied default
  if (
    (s.saleOptOut === 2 && s.saleOptOutNotice === 1) ||
    (s.sharingOptOut === 2 && s.sharingOptOutNotice === 1) ||
    (s.targetedAdvertisingOptOut === 2 && s.targetedAdvertisingOptOutNotice === 1)
  )
    return { level: 'not_opted_out', reasons: [`${at}: notice given, did not opt out`, ...info] }
  return { level: 'silent', reasons: [`${at}: nothing applicable`, ...info] }
}

/**
 * What a TCF section allows one vendor (by Global Vendor List id), following Google's published mapping
 * of TCF purposes to consent mode (developers.google.com/tag-platform/security/guides/implement-TCF-strings):
 * purposes 1 (store/access) and 7 (measure ad performance) → ad user data; purposes 1, 3 and 4
 * (personalised ads profile / selection) → ad personalisation. Only consent counts, never legitimate
 * interest: the fail-closed reading. Without a vendor id the TC string cannot speak for the vendor, so
 * purposes that allow become `explicit` (an explicit consent flag on the event must confirm it).
 *
 * @example
 *   tcfChoice(tcf({ purposes: [1, 3, 4, 7], vendors: [755] }), 755)
 *   // { adUserData: 'granted', adPersonalization: 'granted', reasons: […] }
 */
export function tcfChoice(
  s: TcfSection,
  vendorId: number | undefined,
  who: string,
): { adUserData: TcfVote; adPersonalization: TcfVote; reasons: string[] } {
  const at = `gpp ${s.name} (${s.sid})`
  const p = new Set(s.purposeConsents)
  const missing = (ids: number[]) => ids.filter((id) => !p.has(id))
  const reasons: string[] = []
  const userMissing = missing([1, 7])
  const persMissing = missing([1, 3, 4])
  if (userMissing.length)
    reasons.push(`${at}: no consent for purpose(s) ${userMissing.join(',')} (ad user data)`)
  if (persMissing.length)
    reasons.push(`${at}: no consent for purpose(s) ${persMissing.join(',')} (ad personalisation)`)
  if (s.specialFeatureOptins.length)
    reasons.push(`${at}: special features opted in: ${s.specialFeatureOptins}`)
  let vendor: 'granted' | 'denied' | 'explicit'
  if (vendorId === undefined) {
    vendor = 'explicit'
    reasons.push(`${at}: ${who} has no TCF vendor id; explicit consent on the event must confirm`)
  } else if (s.vendorConsents.includes(vendorId)) {
    vendor = 'granted'
    reasons.push(`${at}: vendor ${vendorId} (${who}) has consent`)
  } else {
    vendor = 'denied'
    reasons.push(`${at}: vendor ${vendorId} (${who}) has no consent`)
  }
  const vote = (ok: boolean): TcfVote => (!ok || vendor === 'denied' ? 'denied' : vendor)
  return {
    adUserData: vote(userMissing.length === 0),
    adPersonalization: vote(persMissing.length === 0),
    reasons,
  }
}

export type TcfVote = 'granted' | 'denied' | 'explicit'

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null
const int = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) ? v : 0)
const ints = (v: unknown): number[] =>
  Array.isArray(v) ? v.filter((x): x is number => Number.isInteger(x)) : typeof v === 'number' ? [v] : []
/** A boolean array (index 0 = id 1) to the 1-based ids that are set. */
const bits = (v: unknown): number[] =>
  Array.isArray(v) ? v.flatMap((b, i) => (b === true ? [i + 1] : [])) : []
const union = (a: number[], b: number[]) => [...new Set([...a, ...b])].sort((x, y) => x - y)
const message = (err: unknown) => (err instanceof Error ? err.message : String(err))
