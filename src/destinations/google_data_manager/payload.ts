/**
 * Pure payload builder for the Data Manager API `events:ingest`: one closeloop signal → one `Event`, a batch
 * of events → one `IngestEventsRequest` with a `Destination` per conversion action in the batch.
 *
 * Field names and enum spellings are those of `google/ads/datamanager/v1` in proto3 JSON (camelCase);
 * the tests check every body against the proto descriptors shipped in `@google-ads/datamanager`.
 *
 * @example
 *   const built = buildDmEvent(signal, config)      // { ok: true, event, productDestinationId: '123' }
 *   const body = buildIngestRequest([built], config, { validateOnly: false })
 */
import { type GoogleIdentifiers, googlePhoneHash } from '../../identity/google.ts'
import type { EventSource } from '../../model/ecapi.ts'
import type { ConsentState } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import {
  type ConversionKind,
  callerOf,
  consentedIdentifiers,
  conversionActionFor,
  conversionKind,
  conversionSubject,
  digitsOnly,
  googleClickId,
  googleConsent,
  googleMoney,
  interleave,
  isCallSignal,
  rfc3339,
} from '../google/common.ts'
import { unique } from '../values.ts'

/** Google's cap on events per `IngestEventsRequest`. */
export const DM_MAX_EVENTS = 2000
/** Google's cap on `userIdentifiers` per event. */
export const DM_MAX_IDENTIFIERS = 10

export type DmAccountType =
  | 'GOOGLE_ADS'
  | 'DISPLAY_VIDEO_PARTNER'
  | 'DISPLAY_VIDEO_ADVERTISER'
  | 'DATA_PARTNER'
  | 'GOOGLE_ANALYTICS_PROPERTY'
  | 'GOOGLE_AD_MANAGER_AUDIENCE_LINK'
export type DmConsentStatus = 'CONSENT_GRANTED' | 'CONSENT_DENIED' | 'CONSENT_STATUS_UNSPECIFIED'
export type DmEventSource = 'WEB' | 'APP' | 'IN_STORE' | 'PHONE' | 'MESSAGE' | 'OTHER'

export interface DmProductAccount {
  accountId: string
  accountType: DmAccountType
}
export interface DmDestination {
  reference: string
  operatingAccount: DmProductAccount
  loginAccount?: DmProductAccount
  linkedAccount?: DmProductAccount
  productDestinationId: string
}
export interface DmConsent {
  adUserData: DmConsentStatus
  adPersonalization: DmConsentStatus
}
export interface DmDeviceInfo {
  userAgent?: string
  ipAddress?: string
}
export type DmUserIdentifier =
  | { emailAddress: string }
  | { phoneNumber: string }
  | { address: { givenName: string; familyName: string; regionCode: string; postalCode: string } }
export interface DmEvent {
  destinationReferences: string[]
  transactionId: string
  eventTimestamp: string
  lastUpdatedTimestamp?: string
  userData?: { userIdentifiers: DmUserIdentifier[] }
  consent: DmConsent
  adIdentifiers?: { gclid?: string; gbraid?: string; wbraid?: string; landingPageDeviceInfo?: DmDeviceInfo }
  currency?: string
  conversionValue?: number
  eventSource: DmEventSource
  eventDeviceInfo?: DmDeviceInfo
}
export interface IngestEventsRequest {
  destinations: DmDestination[]
  events: DmEvent[]
  encoding?: 'HEX'
  validateOnly?: boolean
}

/** What the builder needs from the destination config (already resolved from snake_case YAML). */
export interface DmSettings {
  operatingAccount: DmProductAccount
  loginAccount?: DmProductAccount
  linkedAccount?: DmProductAccount
  /** Signal name or glob → Google Ads conversion action id. */
  conversions: Record<string, string>
  /** Conversion action for signals no `conversions` key matches (the design's `destination_id`). */
  defaultConversion?: string
  /** Region used to read phone numbers written without a country code. */
  defaultRegion: string
}

export type BuiltDmEvent =
  | { ok: true; event: DmEvent; productDestinationId: string; kind: ConversionKind }
  | { ok: false; code: string; message: string }

const CONSENT: Record<ConsentState, DmConsentStatus> = {
  granted: 'CONSENT_GRANTED',
  denied: 'CONSENT_DENIED',
  unspecified: 'CONSENT_STATUS_UNSPECIFIED',
}

/** ECAPI `source` → Data Manager `eventSource` (Google's published ECAPI mapping). */
const SOURCES: Record<EventSource, DmEventSource> = {
  website: 'WEB',
  app: 'APP',
  phone_call: 'PHONE',
  physical_store: 'IN_STORE',
  chat: 'MESSAGE',
  business_messaging: 'MESSAGE',
  email: 'OTHER',
  system_generated: 'OTHER',
  other: 'OTHER',
}

/**
 * Interleave identifier kinds (email, phone, address, email…) so the 10-identifier cap keeps variety; for a call
 * conversion the caller's own number goes first because it is the one Google matches the call on.
 *
 * @example userIdentifiers({ emails: ['e'], phones: ['p'], addresses: [] }) // [{ emailAddress: 'e' }, { phoneNumber: 'p' }]
 */
export function userIdentifiers(ids: GoogleIdentifiers, firstPhone?: string): DmUserIdentifier[] {
  const phones = firstPhone ? [firstPhone, ...ids.phones.filter((p) => p !== firstPhone)] : ids.phones
  return interleave<DmUserIdentifier>(
    [
      ids.emails.map((emailAddress) => ({ emailAddress })),
      phones.map((phoneNumber) => ({ phoneNumber })),
      ids.addresses.map((address) => ({ address })),
    ],
    DM_MAX_IDENTIFIERS,
  )
}

const deviceInfo = (
  userAgent: string | undefined,
  ip: string | undefined,
  pii: boolean,
): DmDeviceInfo | undefined => {
  const info: DmDeviceInfo = {}
  if (userAgent) info.userAgent = userAgent
  // An IP address identifies a person as much as a hashed email: only with PII consent.
  if (ip && pii) info.ipAddress = ip
  return Object.keys(info).length ? info : undefined
}

/**
 * One signal as a Data Manager `Event`, or why it cannot be one (a permanent outcome for that job).
 *
 * @example
 *   buildDmEvent({ ...signal, name: 'qualified_call' }, settings)
 *   // { ok: true, productDestinationId: '555', kind: 'click', event: { transactionId: signal.id, eventSource: 'PHONE', … } }
 */
export function buildDmEvent(signal: Signal, settings: DmSettings): BuiltDmEvent {
  const subject = conversionSubject(signal)
  if (!subject.ok) return subject
  const { correction } = subject
  if (correction?.adjustment === 'retract')
    return {
      ok: false,
      code: 'GOOGLE_DM_RETRACTION_UNSUPPORTED',
      message: 'Data Manager events:ingest has no retraction; route corrections to a google_ads destination',
    }
  const found = conversionActionFor(settings, subject.lookupName)
  if (!found.ok) return found
  const productDestinationId = found.action

  const kind = conversionKind(signal)
  const pii = signal.consent.pii
  const userData = signal.event.user_data
  const caller = callerOf(signal)
  const ids = consentedIdentifiers(signal, settings.defaultRegion)
  const callerHash = kind === 'call' && pii ? googlePhoneHash(caller, settings.defaultRegion) : undefined
  const identifiers = userIdentifiers(ids, callerHash)
  if (kind !== 'click' && identifiers.length === 0)
    return {
      ok: false,
      code: 'GOOGLE_NO_IDENTIFIERS',
      message: pii
        ? 'no click id and no usable email, phone or address'
        : 'no click id, and consent does not allow sending hashed PII',
    }

  const event: DmEvent = {
    destinationReferences: [destinationReference(productDestinationId)],
    // A repeat of the same transactionId is an adjustment in Data Manager: a restatement reuses the original's.
    transactionId: correction ? correction.signalId : signal.id,
    eventTimestamp: rfc3339(correction?.occurredAt ?? signal.occurredAt),
    consent: googleConsent(signal, CONSENT),
    eventSource: isCallSignal(signal) ? 'PHONE' : (SOURCES[signal.event.source as EventSource] ?? 'OTHER'),
  }
  if (correction) event.lastUpdatedTimestamp = rfc3339(signal.occurredAt)
  if (identifiers.length) event.userData = { userIdentifiers: identifiers }
  const click = googleClickId(signal)
  const landing = deviceInfo(userData?.landing_user_agent, userData?.landing_ip_address, pii)
  if (click || landing)
    event.adIdentifiers = { ...click, ...(landing ? { landingPageDeviceInfo: landing } : {}) }
  const device = deviceInfo(userData?.event_user_agent, userData?.event_ip_address, pii)
  if (device) event.eventDeviceInfo = device
  const { conversionValue, currencyCode } = googleMoney(signal)
  if (conversionValue !== undefined) event.conversionValue = conversionValue
  if (currencyCode) event.currency = currencyCode
  return { ok: true, event, productDestinationId, kind }
}

/** A user identifier's kind as a match key. */
const USER_KEYS: Record<string, string> = { emailAddress: 'email', phoneNumber: 'phone', address: 'address' }

/**
 * What an event gives Google to match it on, sorted: its click id (`gclid`, `gbraid`, `wbraid`) and the kinds
 * of its user identifiers (`email`, `phone`, `address`; only sent with consent).
 *
 * @example matchKeysOf({ adIdentifiers: { gclid: 'Cj0…' }, userData: { userIdentifiers: [{ phoneNumber: '…' }] } })
 *   // ['gclid', 'phone']
 */
export function matchKeysOf(event: Pick<DmEvent, 'adIdentifiers' | 'userData'>): string[] {
  const ad = event.adIdentifiers ?? {}
  const keys: string[] = (['gclid', 'gbraid', 'wbraid'] as const).filter((k) => ad[k])
  for (const id of event.userData?.userIdentifiers ?? [])
    keys.push(...Object.keys(id).map((k) => USER_KEYS[k] ?? k))
  return unique(keys).sort()
}

/** The request-scoped reference of a conversion action's `Destination`. @example destinationReference('123') // 'ca-123' */
export const destinationReference = (productDestinationId: string): string => `ca-${productDestinationId}`

/**
 * The request body for a batch of built events: one `Destination` per conversion action used.
 *
 * @example buildIngestRequest([built], settings, { validateOnly: true }).validateOnly // true
 */
export function buildIngestRequest(
  built: { event: DmEvent; productDestinationId: string }[],
  settings: DmSettings,
  opts: { validateOnly: boolean },
): IngestEventsRequest {
  const ids = [...new Set(built.map((b) => b.productDestinationId))]
  const destinations = ids.map((productDestinationId) => {
    const d: DmDestination = {
      reference: destinationReference(productDestinationId),
      operatingAccount: settings.operatingAccount,
      productDestinationId,
    }
    if (settings.loginAccount) d.loginAccount = settings.loginAccount
    if (settings.linkedAccount) d.linkedAccount = settings.linkedAccount
    return d
  })
  const events = built.map((b) => b.event)
  const request: IngestEventsRequest = { destinations, events }
  // `encoding` is required as soon as any hashed identifier is sent; closeloop hashes to lowercase hex.
  if (events.some((e) => e.userData)) request.encoding = 'HEX'
  if (opts.validateOnly) request.validateOnly = true
  return request
}

/** A config account id (`123-456-7890` or digits) as a `ProductAccount`. @example productAccount('123-456-7890') */
export const productAccount = (id: string, type: DmAccountType = 'GOOGLE_ADS'): DmProductAccount => ({
  accountId: type === 'GOOGLE_ADS' ? digitsOnly(id) : id,
  accountType: type,
})
