/**
 * The consent decision for one event: what each destination may receive about the person behind it.
 *
 * Three kinds of signal are combined, field by field (`adUserData`, `adPersonalization`):
 * 1. the IAB GPP string (`user_data.gpp_string` + `gpp_sid`, read by `gpp.ts`): US state / national
 *    opt-outs and TCF consents;
 * 2. explicit flags on the event (`user_data.ext.consent = { ad_user_data, ad_personalization }`, booleans
 *    or `'granted'` / `'denied'`);
 * 3. the configured default (`policy`, per source), used only where no signal says anything.
 * A denial from any signal wins (signals describe the same person; a conflict is resolved the safe way),
 * then a grant from any signal, then the default. `mmt_only` always means measurement only.
 *
 * The decision differs per destination only through TCF vendor consent (Google is TCF vendor 755; Meta and
 * other partners are not TCF vendors unless configured). Without an `audience`, the decision is the
 * strictest over all destinations, which is what a single `signal.consent` must be until destinations ask
 * for their own. docs/consent.md has the decision table and the public sources of each rule.
 *
 * @example
 *   decideConsent({ user_data: { mmt_only: true } }, 'granted')
 *   // { pii: true, adUserData: 'granted', adPersonalization: 'denied', ldu: false, mmtOnly: true }
 *   explainConsent({ user_data: { gpp_string: usnatSaleOptOut, gpp_sid: [7] } }, 'granted', { audience: 'meta' })
 *   // { pii: false, adUserData: 'denied', adPersonalization: 'denied', ldu: true, …,
 *   //   reasons: ['gpp usnat (7): opted out of sale', …] }
 */
import type { EcapiEvent } from '../model/ecapi.ts'
import type { ConsentAudience, ConsentDecision, ConsentState } from '../model/identity.ts'
import { readGpp, type TcfVote, tcfChoice, usChoice } from './gpp.ts'

export type ConsentPolicy = 'granted' | 'denied'

/** Who the decision is for: the two platforms with their own consent mechanics, and everyone else. */
export type { ConsentAudience } from '../model/identity.ts'
export const CONSENT_AUDIENCES: readonly ConsentAudience[] = ['google', 'meta', 'partner']

/** Google's IAB TCF Global Vendor List id. */
export const GOOGLE_TCF_VENDOR_ID = 755

export interface ConsentOptions {
  /** The destination family to decide for; absent = the strictest decision over all of them. */
  audience?: ConsentAudience
  /**
   * TCF Global Vendor List ids per audience, for the vendor-consent check. Google defaults to 755. Meta is
   * not a TCF vendor: without an id, TCF purposes must allow and an explicit flag on the event must grant.
   */
  tcfVendorIds?: Partial<Record<ConsentAudience, number>>
  /** A GPP string that cannot be read: `deny` (default: no PII, LDU) or fall back to the `default` policy. */
  malformedGpp?: 'deny' | 'default'
  /**
   * US sensitive-data categories without consent: `record` (default; a reason only) or `restrict` (treat
   * as an opt-out). Use `restrict` where a conversion itself reveals sensitive data (health, for example).
   */
  sensitiveData?: 'record' | 'restrict'
}

/** A decision with its why, for the trace and the dashboard. */
export interface ConsentExplanation extends ConsentDecision {
  audience: ConsentAudience | 'all'
  /**
   * Send nothing to this destination: TCF applies and the person did not consent to measurement for it.
   * A click id is personal data under the GDPR, so dropping PII is not enough for a platform without a
   * consent field. Never set for Google, whose `Consent` object carries the denial (Google then limits use).
   */
  withhold: boolean
  /**
   * Every signal read and what it did, in order: gpp, explicit flags, default, mmt_only. Plain ASCII: every
   * signal stores three audiences' reasons, and one non-ASCII character makes V8 hold the whole JSON as a
   * two-byte string; a batch of 100 signals stringified in 1,034 µs with "→" against 502 µs with "->".
   */
  reasons: string[]
}

/**
 * The decision a signal carries (`signal.consent`): the strictest over all destinations unless
 * `options.audience` asks for one. Same fields as before GPP support; `explainConsent` gives the reasons.
 *
 * @example
 *   decideConsent({ user_data: {} }, 'denied')
 *   // { pii: false, adUserData: 'denied', adPersonalization: 'denied', ldu: true, mmtOnly: false }
 */
export function decideConsent(
  e: EcapiEvent,
  policy: ConsentPolicy,
  options?: ConsentOptions,
): ConsentDecision {
  const { pii, adUserData, adPersonalization, ldu, mmtOnly } = explainConsent(e, policy, options)
  return { pii, adUserData, adPersonalization, ldu, mmtOnly }
}

/**
 * The decision with its reasons, for one audience or (without `options.audience`) the strictest over all.
 *
 * @example
 *   explainConsent(euEventWithGoogleConsentOnly, 'granted', { audience: 'google' }).pii // true
 *   explainConsent(euEventWithGoogleConsentOnly, 'granted', { audience: 'meta' }).withhold // true
 */
export function explainConsent(
  e: EcapiEvent,
  policy: ConsentPolicy,
  options?: ConsentOptions,
): ConsentExplanation {
  if (options?.audience) return decideFor(e, policy, options.audience, options)
  const each = CONSENT_AUDIENCES.map((a) => decideFor(e, policy, a, options))
  return strictest(each)
}

/**
 * One explanation per audience, for a caller that stores them all (or a destination picking its own).
 *
 * @example consentByAudience(event, 'granted').google.adUserData // 'granted'
 */
export function consentByAudience(
  e: EcapiEvent,
  policy: ConsentPolicy,
  options?: Omit<ConsentOptions, 'audience'>,
): Record<ConsentAudience, ConsentExplanation> {
  return {
    google: decideFor(e, policy, 'google', options),
    meta: decideFor(e, policy, 'meta', options),
    partner: decideFor(e, policy, 'partner', options),
  }
}

/**
 * What a signal carries: the decision per audience, and the strictest of them as its `consent`, each
 * audience decided once (deciding `consent` on its own decided all three again: 2 % of ingest CPU).
 *
 * @example const { consent, consentFor } = signalConsent(event, 'granted')
 */
export function signalConsent(
  e: EcapiEvent,
  policy: ConsentPolicy,
  options?: Omit<ConsentOptions, 'audience'>,
): { consent: ConsentDecision; consentFor: Record<ConsentAudience, ConsentExplanation> } {
  const consentFor = consentByAudience(e, policy, options)
  const { pii, adUserData, adPersonalization, ldu, mmtOnly } = strictest(
    CONSENT_AUDIENCES.map((a) => consentFor[a]),
  )
  return { consent: { pii, adUserData, adPersonalization, ldu, mmtOnly }, consentFor }
}

type Vote = TcfVote
type Field = 'adUserData' | 'adPersonalization'

/** The votes every signal cast, before they are combined. */
interface Ballot {
  adUserData: Vote[]
  adPersonalization: Vote[]
  /** A US law restriction (or an unreadable string) calls for Meta's Limited Data Use. */
  usLimited: boolean
  tcfApplies: boolean
  reasons: string[]
}

function decideFor(
  e: EcapiEvent,
  policy: ConsentPolicy,
  audience: ConsentAudience,
  options: ConsentOptions | undefined,
): ConsentExplanation {
  const b: Ballot = {
    adUserData: [],
    adPersonalization: [],
    usLimited: false,
    tcfApplies: false,
    reasons: [],
  }
  gppVotes(e, audience, options, b)
  const explicit = explicitFlags(e, b)

  const decide = (f: Field): ConsentState => {
    const votes = b[f]
    if (votes.includes('denied')) return 'denied'
    // A TC string that cannot speak for this vendor needs the event's own flag to say yes.
    if (votes.includes('explicit')) {
      if (explicit[f] === 'granted') return 'granted'
      b.reasons.push(`${f}: TCF vendor consent unknown and no explicit grant -> denied`)
      return 'denied'
    }
    if (votes.includes('granted')) return 'granted'
    b.reasons.push(`${f}: no signal -> default policy (${policy})`)
    return policy
  }
  const adUserData = decide('adUserData')
  let adPersonalization = decide('adPersonalization')
  // Meta's LDU is its mechanism for the US state laws: on whenever Meta may not use the data as its own.
  const ldu = b.usLimited || adUserData === 'denied' || adPersonalization === 'denied'

  const mmtOnly = e.user_data?.mmt_only === true
  if (mmtOnly) {
    // ECAPI mmt_only = attribution / measurement only, never delivery optimisation or personalisation.
    b.reasons.push('mmt_only: measurement only (Meta opt_out, no ad personalisation)')
    adPersonalization = 'denied'
  }
  const withhold = audience !== 'google' && b.tcfApplies && adUserData === 'denied'
  if (withhold) b.reasons.push(`${audience}: TCF applies without measurement consent -> withhold delivery`)
  return {
    pii: adUserData === 'granted',
    adUserData,
    adPersonalization,
    ldu,
    mmtOnly,
    audience,
    withhold,
    reasons: b.reasons,
  }
}

/** Votes from the GPP string, if the event carries one. */
function gppVotes(e: EcapiEvent, audience: ConsentAudience, options: ConsentOptions | undefined, b: Ballot) {
  const raw = e.user_data?.gpp_string
  const sid = e.user_data?.gpp_sid
  if (typeof raw !== 'string' || raw.trim() === '') {
    if (sid?.length) b.reasons.push('gpp_sid without gpp_string: ignored')
    return
  }
  const reading = readGpp(raw, sid)
  b.reasons.push(...reading.notes)
  if (reading.errors.length > 0) {
    b.reasons.push(...reading.errors)
    if ((options?.malformedGpp ?? 'deny') === 'deny') {
      // An unreadable string may well hold an opt-out: fail closed for PII (malformed_gpp: deny).
      b.reasons.push('gpp unreadable -> denied (malformed_gpp: deny)')
      b.adUserData.push('denied')
      b.adPersonalization.push('denied')
      b.usLimited = true
    } else b.reasons.push('gpp unreadable -> ignored (malformed_gpp: default)')
    return
  }
  const vendorIds = { google: GOOGLE_TCF_VENDOR_ID, ...options?.tcfVendorIds }
  for (const section of reading.applicable) {
    if (section.kind === 'us') {
      const { level, reasons } = usChoice(section, options?.sensitiveData ?? 'record')
      b.reasons.push(...reasons)
      if (level === 'opted_out') {
        b.adUserData.push('denied')
        b.adPersonalization.push('denied')
        b.usLimited = true
      } else if (level === 'limited') {
        b.adPersonalization.push('denied')
        b.usLimited = true
      } else if (level === 'not_opted_out') {
        b.adUserData.push('granted')
        b.adPersonalization.push('granted')
      }
    } else {
      b.tcfApplies = true
      const choice = tcfChoice(section, vendorIds[audience], audience)
      b.reasons.push(...choice.reasons)
      b.adUserData.push(choice.adUserData)
      b.adPersonalization.push(choice.adPersonalization)
    }
  }
}

/** `user_data.ext.consent`: booleans or 'granted' / 'denied' (any case). Anything else is ignored. */
function explicitFlags(e: EcapiEvent, b: Ballot): Partial<Record<Field, ConsentPolicy>> {
  const ext = e.user_data?.ext
  const consent = ext && typeof ext === 'object' ? (ext as { consent?: unknown }).consent : undefined
  if (!consent || typeof consent !== 'object') return {}
  const flags = consent as Record<string, unknown>
  const out: Partial<Record<Field, ConsentPolicy>> = {}
  const read = (key: string, f: Field) => {
    const v = flags[key]
    if (v === undefined) return
    const s = typeof v === 'string' ? v.toLowerCase() : v
    const state =
      s === true || s === 'granted' ? 'granted' : s === false || s === 'denied' ? 'denied' : undefined
    if (!state) {
      b.reasons.push(`explicit ${key}: unrecognised value ${JSON.stringify(v)}, ignored`)
      return
    }
    out[f] = state
    b[f].push(state)
    b.reasons.push(`explicit ${key}: ${state}`)
  }
  read('ad_user_data', 'adUserData')
  read('ad_personalization', 'adPersonalization')
  return out
}

/** The decision that is safe for every audience at once. */
function strictest(all: ConsentExplanation[]): ConsentExplanation {
  const state = (f: Field): ConsentState =>
    all.some((d) => d[f] === 'denied')
      ? 'denied'
      : all.every((d) => d[f] === 'granted')
        ? 'granted'
        : 'unspecified'
  const reasons: string[] = []
  for (const d of all) for (const r of d.reasons) if (!reasons.includes(r)) reasons.push(r)
  return {
    pii: all.every((d) => d.pii),
    adUserData: state('adUserData'),
    adPersonalization: state('adPersonalization'),
    ldu: all.some((d) => d.ldu),
    mmtOnly: all.some((d) => d.mmtOnly),
    audience: 'all',
    withhold: all.some((d) => d.withhold),
    reasons,
  }
}
