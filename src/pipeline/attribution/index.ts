/**
 * Attribution: first-touch clicks per visitor, dynamic number insertion (DNI), and the joins that give a call
 * its click ids — by the pool number the visitor was shown (`dni`), by a phone number the visitor submitted in a
 * form (`phone`), or by a click id the call platform passed itself (`click_id`). Pure: the store runs these
 * inside its transactions over facts (key → value with a TTL).
 *
 * Facts:
 *  - `visitor:<data_set_id>:<visitor id>` → `{ first, last }` touches; the earliest ad click wins for `click_ttl_days`
 *  - `dni_pool:<campaign>` → which visitor holds which number until when, and when each was last used
 *  - `dni:<tracking number>` → the holding visitor's first touch, TTL = the hold (calls inside it are attributed)
 *  - `lead:<data set>:<identityKey(phone)>` → the first touch of the visitor who submitted that phone number
 */
import { hash } from 'node:crypto'
import { identityKey } from '../../identity/hash.ts'
import { toE164 } from '../../identity/phone.ts'
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { ClickIdentity } from '../../model/identity.ts'
import type { IngestItem } from '../../store/types.ts'
import { scopeOf } from '../names.ts'

const DAY_MS = 86_400_000
const MINUTE_MS = 60_000

/** One visit that came from an ad click (or not): what the landing page saw. */
export interface Touch {
  visitor_id: string
  clicked_at: number
  click_ids: ClickIdentity
  landing_page?: string
  landing_ip?: string
  landing_ua?: string
  utm?: Record<string, string>
}

export interface VisitorFacts {
  first: Touch
  last: Touch
}

export const visitorKey = (dataSetId: string, visitor: string) => `visitor:${dataSetId}:${visitor}`
export const dniKey = (trackingNumber: string) => `dni:${trackingNumber}`
/** Scoped by data set (../names.ts): a form on one business's site says nothing about calls to another. */
export const leadKey = (dataSetId: string, phoneE164: string) =>
  `lead:${scopeOf(dataSetId)}:${identityKey(phoneE164)}`
/** The unscoped key of earlier versions, read (never written) until its forms expire (90 days). */
export const legacyLeadKey = (phoneE164: string) => `lead:${identityKey(phoneE164)}`
export const poolKey = (campaign: string) => `dni_pool:${campaign}`

/** The touch a click event (ECAPI page_view from `/v1/clicks`) describes. */
export function touchOf(e: EcapiEvent): Touch {
  const ext = e.ext as { visitor_id?: string; utm?: Record<string, string>; click_ids?: ClickIdentity }
  const clickIds = ext.click_ids ?? {}
  return {
    visitor_id: String(ext.visitor_id),
    clicked_at: clickIds.clicked_at ?? e.timestamp * 1000,
    click_ids: clickIds,
    ...(e.properties?.page_url ? { landing_page: e.properties.page_url } : {}),
    ...(e.user_data?.landing_ip_address ? { landing_ip: e.user_data.landing_ip_address } : {}),
    ...(e.user_data?.landing_user_agent ? { landing_ua: e.user_data.landing_user_agent } : {}),
    ...(ext.utm && Object.keys(ext.utm).length ? { utm: ext.utm } : {}),
  }
}

const hasClickId = (c: ClickIdentity) =>
  Boolean(c.gclid || c.gbraid || c.wbraid || c.fbclid || c.fbc || c.ttclid || c.msclkid)

/**
 * First touch wins: a visitor's first *ad* click — by click time, not by arrival — stays for `ttlDays` after that
 * click; a later touch only updates `last`. A first visit without any click id is replaced by the first one that
 * has one (organic then paid = paid). A click that arrives late (a server posting `clicked_at`) with an earlier
 * click time than the stored first ad click, and still inside the window, becomes the first touch. The fact
 * expires `ttlDays` after the first touch's click time (never longer than `ttlDays` from now).
 *
 * @example nextVisitorFacts(undefined, touch, 90, now) // { first: touch, last: touch }
 */
export function nextVisitorFacts(
  prev: VisitorFacts | undefined,
  touch: Touch,
  ttlDays: number,
  now: number,
): { facts: VisitorFacts; firstTouch: boolean; ttlMs: number } {
  const ttl = ttlDays * DAY_MS
  const ttlFrom = (first: Touch) => Math.min(ttl, Math.max(1, first.clicked_at + ttl - now))
  const fresh = prev && now - prev.first.clicked_at < ttl
  if (!fresh || (!hasClickId(prev.first.click_ids) && hasClickId(touch.click_ids)))
    return { facts: { first: touch, last: touch }, firstTouch: true, ttlMs: ttlFrom(touch) }
  const last = touch.clicked_at >= prev.last.clicked_at ? touch : prev.last
  const earlier =
    hasClickId(touch.click_ids) && touch.clicked_at < prev.first.clicked_at && now - touch.clicked_at < ttl
  if (earlier) return { facts: { first: touch, last }, firstTouch: true, ttlMs: ttlFrom(touch) }
  return { facts: { first: prev.first, last }, firstTouch: false, ttlMs: ttlFrom(prev.first) }
}

/** A click becomes an event (its own record and trace) and an update of its visitor's touches; no signal. */
export function clickItem(event: EcapiEvent, ttlDays: number, dedupKey: string): IngestItem {
  const touch = touchOf(event)
  const key = visitorKey(event.data_set_id, touch.visitor_id)
  return {
    event,
    dedupKey,
    facts: [key],
    derive({ facts, now }) {
      const next = nextVisitorFacts(facts[key] as VisitorFacts | undefined, touch, ttlDays, now)
      return { facts: { [key]: { value: next.facts, ttlMs: next.ttlMs } }, signals: [] }
    },
  }
}

export interface PoolConfig {
  numbers: string[]
  hold_minutes: number
  default_number?: string
  max_holds_per_address?: number
}

interface PoolState {
  /** `from`: a digest of the holder's address (`requesterKey`), for `max_holds_per_address`. */
  holds: Record<string, { visitor: string; until: number; lastUsed: number; from?: string }>
}

export interface Assignment {
  number: string | undefined
  /** False when the default number was given: the pool was exhausted, or the sender holds its cap (`limited`). */
  pooled: boolean
  limited?: boolean
  heldUntil?: number
}

/**
 * What a pool remembers of a holder's address while the hold lasts: a digest, enough to count its holds
 * (`assignNumber` drops it once the hold ends, though the pool's state is kept for a week).
 */
export const requesterKey = (addressKey: string) =>
  hash('sha256', `dni-holder:${addressKey}`, 'hex').slice(0, 16)

/**
 * Picks a number for a visitor: the one they already hold (the hold is extended), else the free number used
 * least recently (so a number just released is not reused at once and a late call still reaches its visitor),
 * else the campaign's default number (exhausted).
 *
 * @example assignNumber(undefined, { numbers: ['+18005550101'], hold_minutes: 30 }, 'v1', now).number // '+18005550101'
 */
export function assignNumber(
  state: PoolState | undefined,
  pool: PoolConfig,
  visitor: string,
  now: number,
  from?: string,
): { state: PoolState; assignment: Assignment } {
  const holds = { ...(state?.holds ?? {}) }
  // numbers removed from the config are forgotten; an ended hold forgets its holder's address
  for (const [n, h] of Object.entries(holds)) {
    if (!pool.numbers.includes(n)) delete holds[n]
    else if (h.from !== undefined && h.until <= now) {
      const { from: _from, ...rest } = h
      holds[n] = rest
    }
  }
  const until = now + pool.hold_minutes * MINUTE_MS
  const mine = pool.numbers.find((n) => holds[n]?.visitor === visitor && holds[n].until > now)
  // a sender cycling visitor ids would take every number (bots did, to exhaust pools): past its cap, a new
  // visitor from its address gets the default number; one already holding keeps its own
  const cap = pool.max_holds_per_address
  if (!mine && cap !== undefined && from !== undefined) {
    const held = Object.values(holds).filter((h) => h.from === from && h.until > now).length
    if (held >= cap)
      return { state: { holds }, assignment: { number: pool.default_number, pooled: false, limited: true } }
  }
  const free = pool.numbers
    .filter((n) => !holds[n] || holds[n].until <= now)
    .sort((a, b) => (holds[a]?.lastUsed ?? 0) - (holds[b]?.lastUsed ?? 0))
  const pick = mine ?? free[0]
  if (!pick) return { state: { holds }, assignment: { number: pool.default_number, pooled: false } }
  holds[pick] = { visitor, until, lastUsed: now, ...(from !== undefined ? { from } : {}) }
  return { state: { holds }, assignment: { number: pick, pooled: true, heldUntil: until } }
}

/** The store update that assigns a number and records who holds it (with their first touch, for the call join). */
export function dniUpdate(
  campaign: string,
  pool: PoolConfig,
  dataSetId: string,
  visitor: string,
  now: number,
  from?: string,
) {
  const pk = poolKey(campaign)
  const vk = visitorKey(dataSetId, visitor)
  return {
    keys: [pk, vk],
    update(facts: Record<string, unknown>) {
      const { state, assignment } = assignNumber(facts[pk] as PoolState | undefined, pool, visitor, now, from)
      const writes: Record<string, { value: unknown; ttlMs: number }> = {
        // the pool state outlives any hold; a week without requests forgets recency, which is harmless
        [pk]: { value: state, ttlMs: 7 * DAY_MS },
      }
      if (assignment.pooled && assignment.number) {
        const v = facts[vk] as VisitorFacts | undefined
        writes[dniKey(assignment.number)] = {
          value: { visitor, campaign, touch: v?.first ?? null },
          ttlMs: pool.hold_minutes * MINUTE_MS,
        }
      }
      return { writes, result: assignment }
    },
  }
}

/** A form event (any ECAPI event with `ext.visitor_id` and a raw phone) links that phone to the visitor's first touch. */
export function leadPhone(e: EcapiEvent, region = 'US'): string | undefined {
  const visitor = (e.ext as { visitor_id?: unknown } | undefined)?.visitor_id
  if (typeof visitor !== 'string') return undefined
  const phones = e.user_data?.phone_numbers
  const first = Array.isArray(phones) ? phones[0] : phones
  if (!first || /^[0-9a-f]{64}$/i.test(first)) return undefined
  return toE164(first, region)
}

/** Fact keys a call input needs for the joins. */
export function joinKeys(
  dataSetId: string,
  trackingNumber: string | undefined,
  caller: string | undefined,
): string[] {
  return [
    ...(trackingNumber ? [dniKey(trackingNumber)] : []),
    ...(caller ? [leadKey(dataSetId, caller), legacyLeadKey(caller)] : []),
  ]
}

/**
 * Gives a call event its click identity: the platform's own click id wins (`click_id`), then the DNI hold on the
 * tracking number (`dni`), then a form submission with the caller's number (`phone`); else `none`.
 */
export function joinClick(
  e: EcapiEvent,
  facts: Record<string, unknown>,
  tracking?: string,
  caller?: string,
): EcapiEvent {
  const own = e.ext?.click_ids
  if (own && hasClickId(own)) return withClicks(e, { ...own, attribution: own.attribution ?? 'click_id' })
  const dni = tracking ? (facts[dniKey(tracking)] as { touch: Touch | null } | undefined) : undefined
  const lead = caller
    ? ((facts[leadKey(e.data_set_id, caller)] ?? facts[legacyLeadKey(caller)]) as
        | { touch: Touch | null }
        | undefined)
    : undefined
  const hit = dni?.touch
    ? { touch: dni.touch, how: 'dni' }
    : lead?.touch
      ? { touch: lead.touch, how: 'phone' }
      : undefined
  if (!hit)
    return e.ext?.call?.status === 'answered' || e.ext?.call?.status === 'completed'
      ? withClicks(e, { ...(own ?? {}), attribution: own?.attribution ?? 'none' })
      : e
  const t = hit.touch
  const joined = withClicks(e, { ...t.click_ids, clicked_at: t.clicked_at, attribution: hit.how })
  return {
    ...joined,
    user_data: {
      ...(t.landing_ip ? { landing_ip_address: t.landing_ip } : {}),
      ...(t.landing_ua ? { landing_user_agent: t.landing_ua } : {}),
      ...(joined.user_data ?? {}),
    },
    ...(t.landing_page && !joined.properties?.page_url
      ? { properties: { ...(joined.properties ?? {}), page_url: t.landing_page } }
      : {}),
  }
}

function withClicks(e: EcapiEvent, clicks: ClickIdentity): EcapiEvent {
  return { ...e, ext: { ...(e.ext ?? {}), click_ids: clicks } }
}
