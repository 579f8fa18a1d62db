/**
 * The per-call journey: everything closeloop has learned about one call (a tree of legs joined by
 * `parent_call_id`), folded from inputs that may arrive in any order and any number of times.
 *
 * The fold is built so that order and repeats do not matter: times keep the earliest report (`min`),
 * durations the longest (`max`), statuses accumulate as a set, a leg's terminal status is the one with the
 * highest Twilio `sequence` (then timestamp), and "last writer wins" fields (revenue, payout, disposition)
 * compare `(timestamp, sequence, arrival)`. A late `ringing` after `completed` adds a fact and regresses nothing.
 *
 * Pure functions over JSON-safe data: the store persists `CallJourney` as the journey's state.
 *
 * @example
 *   let j = newJourney('CA1', 'acme')
 *   j = applyCallEvent(j, completedEvent, 'raw_2', 'US')
 *   j = applyCallEvent(j, answeredEvent, 'raw_1', 'US') // same state as the other order
 *   callView(j).connected // true
 */
import { toE164 } from '../../identity/phone.ts'
import type { CallStatus } from '../../model/call.ts'
import type { EcapiEvent, EventType, UserData } from '../../model/ecapi.ts'
import type { ClickIdentity } from '../../model/identity.ts'
import { callName } from '../names.ts'

export const TERMINAL_STATUSES: ReadonlySet<CallStatus> = new Set([
  'completed',
  'busy',
  'no_answer',
  'failed',
  'canceled',
])

/** Ordering key of an input: event time, then the platform's sequence, then arrival. */
export interface Stamp {
  at: number
  seq: number
  n: number
}

/** Whether `a` was reported after `b` (an absent `b` is older than anything). */
export function newer(a: Stamp, b: Stamp | undefined): boolean {
  if (!b) return true
  if (a.at !== b.at) return a.at > b.at
  if (a.seq !== b.seq) return a.seq > b.seq
  return a.n > b.n
}

export interface Stamped<V> extends Stamp {
  v: V
}

export interface Leg {
  statuses: CallStatus[]
  started_at?: number
  ringing_at?: number
  answered_at?: number
  ended_at?: number
  duration_s?: number
  /** The terminal status with the highest (sequence, time). */
  terminal?: { status: CallStatus; seq: number; at: number }
  /** First raw input that reported each status, for signal causes. */
  raw: Partial<Record<CallStatus, string>>
}

export interface DispositionEntry extends Stamp {
  /** As reported. */
  reported: string
  value?: number
  currency?: string
  raw: string
}

export interface Outcome extends Stamp {
  /** Order / transaction id ('' when the CRM sent none). */
  order: string
  status: 'closed' | 'reversed'
  revenue?: number
  currency?: string
  raw: string
  /** How the outcome found this call. */
  linkedBy: 'call_id' | 'order' | 'phone' | 'none'
}

/** A signal closeloop has sent for this journey, and what it said. */
export interface Emitted {
  id: string
  name: string
  value?: number
  currency?: string
  occurredAt: number
  /** Re-emissions after a retraction get a new generation (and so a new id). */
  gen: number
  retracted: boolean
  corrections: number
  causes: string[]
  /** The ECAPI event type it was sent as; its corrections say the same. */
  eventType: EventType
}

export interface CallJourney {
  v: 1
  /**
   * Root call id: the journey key is `call:<data set>:<root>` (`call:<root>` if an earlier version started
   * it; `crm:…` for an outcome that matched no call).
   */
  root: string
  key: string
  dataSetId: string
  legs: Record<string, Leg>
  campaign?: string
  caller?: string
  trackingNumber?: string
  attestation?: string
  clickIds: ClickIdentity
  userData?: UserData
  orders: string[]
  currency?: string
  revenue?: Stamped<number>
  payout?: Stamped<number>
  predicted?: Stamped<number>
  dispositions: DispositionEntry[]
  outcomes: Record<string, Outcome>
  /** Slot (`call_connected`, `disposition:Sale`, `closed_outcome#A-1`) → what was sent. */
  emitted: Record<string, Emitted>
  /** Sticky holdback reasons (spam, repeat caller). */
  flags: string[]
  /** Details behind flags: which earlier call a repeat repeats, which rule caught spam. */
  notes: Record<string, unknown>
  /** Signals that would have been sent but were held back, and why. */
  withheld: Record<string, string[]>
  checks: { repeat?: boolean; pattern?: boolean }
  qualify: { due?: number; armed?: boolean; live?: boolean }
  /** Aliases already written to the store. */
  aliases: string[]
  /** Per consent field (`gpp_string`, `gpp_sid`, `mmt_only`, `consent`), the stamp of the event it came from. */
  consentAt?: Partial<Record<(typeof CONSENT_FIELDS)[number] | 'consent', Stamp>>
  /** Input counter: arrival order, the last tie-break. */
  n: number
  /** The last input's event id and raw id: what a timer reports as its cause. */
  last?: { eventId: string; rawId: string }
}

export function newJourney(root: string, dataSetId: string, key = callName(dataSetId, root)): CallJourney {
  return {
    v: 1,
    root,
    key,
    dataSetId,
    legs: {},
    clickIds: {},
    orders: [],
    dispositions: [],
    outcomes: {},
    emitted: {},
    flags: [],
    notes: {},
    withheld: {},
    checks: {},
    qualify: {},
    aliases: [],
    n: 0,
  }
}

/** A stored state read back: anything that is not a v1 journey starts fresh. */
export function readJourney(state: Record<string, unknown> | undefined): CallJourney | undefined {
  return state && state.v === 1 && typeof state.root === 'string'
    ? (state as unknown as CallJourney)
    : undefined
}

const minDef = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b)
const maxDef = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b)

function stampOf(j: CallJourney, e: EcapiEvent): Stamp {
  return { at: e.timestamp, seq: e.ext?.call?.sequence ?? -1, n: j.n }
}

/** A caller as E.164, or undefined (hashes and withheld numbers are not callers). */
export function normalizeCaller(raw: string | undefined, region: string): string | undefined {
  if (!raw || /^[0-9a-f]{64}$/i.test(raw)) return undefined
  return toE164(raw, region)
}

/** Fold the identity and money an event carries (any event: status, disposition, CRM). */
function applyCommon(j: CallJourney, e: EcapiEvent, region: string, money: boolean): void {
  const call = e.ext?.call
  const stamp = stampOf(j, e)
  if (call?.campaign && !j.campaign) j.campaign = call.campaign
  const caller = normalizeCaller(call?.caller, region)
  if (caller && !j.caller) j.caller = caller
  const tracking = normalizeCaller(call?.tracking_number, region) ?? call?.tracking_number
  if (tracking && !j.trackingNumber) j.trackingNumber = tracking
  if (call?.attestation && !j.attestation) j.attestation = call.attestation
  // first touch wins: a later event never overwrites a click id already known
  for (const [k, v] of Object.entries(e.ext?.click_ids ?? {}))
    if (v !== undefined && (j.clickIds as Record<string, unknown>)[k] === undefined)
      (j.clickIds as Record<string, unknown>)[k] = v
  if (e.user_data) mergeUserData(j, e.user_data, stamp)
  const order = e.properties?.transaction_id
  if (order && !j.orders.includes(order)) j.orders.push(order)
  if (e.currency_code && !j.currency) j.currency = e.currency_code.toUpperCase()
  if (!money) return
  if (call?.revenue !== undefined && newer(stamp, j.revenue)) j.revenue = { ...stamp, v: call.revenue }
  if (call?.payout !== undefined && newer(stamp, j.payout)) j.payout = { ...stamp, v: call.payout }
  if (call?.predicted_value !== undefined && newer(stamp, j.predicted))
    j.predicted = { ...stamp, v: call.predicted_value }
}

/**
 * A call's person as its events report them: identifiers keep their first report (a later event never
 * overwrites a known email), consent follows the newest event that says anything about it (`gpp_string`,
 * `gpp_sid`, `mmt_only`, `ext.consent`), the person's latest choice. Newest by the event's own stamp (time,
 * sequence), as money is, not by arrival: a grant arriving late after an opt-out must not undo it. With the
 * first report winning, an opt-out sent with a disposition was forgotten, and with the last arrival winning,
 * a delayed earlier grant restored PII (reviews reproduced both).
 */
function mergeUserData(j: CallJourney, next: NonNullable<EcapiEvent['user_data']>, stamp: Stamp): void {
  const known = j.userData
  const merged: Record<string, unknown> = { ...next, ...(known ?? {}) }
  const stamps = { ...(j.consentAt ?? {}) }
  for (const k of CONSENT_FIELDS)
    if (next[k] !== undefined && newer(stamp, stamps[k])) {
      merged[k] = next[k]
      stamps[k] = stamp
    }
  const consent = (next.ext as { consent?: unknown } | undefined)?.consent
  if (consent !== undefined && newer(stamp, stamps.consent)) {
    merged.ext = { ...(known?.ext ?? {}), ...(next.ext ?? {}), consent }
    stamps.consent = stamp
  }
  j.consentAt = stamps
  j.userData = merged as NonNullable<EcapiEvent['user_data']>
}

const CONSENT_FIELDS = ['gpp_string', 'gpp_sid', 'mmt_only'] as const

/**
 * Fold a telephony event (status and/or disposition) into the journey. Returns a new journey.
 *
 * @example applyCallEvent(j, { …, ext: { call: { call_id: 'CA1', status: 'answered' } } }, 'raw_1', 'US')
 */
export function applyCallEvent(prev: CallJourney, e: EcapiEvent, rawId: string, region: string): CallJourney {
  const j: CallJourney = structuredClone(prev)
  j.n += 1
  const call = e.ext?.call
  applyCommon(j, e, region, true)
  if (!call) return j
  const stamp = stampOf(j, e)
  j.legs[call.call_id] ??= { statuses: [], raw: {} }
  const leg = j.legs[call.call_id]
  const status = call.status
  if (status) {
    if (!leg.statuses.includes(status)) leg.statuses.push(status)
    leg.raw[status] ??= rawId
    if (status === 'initiated' || status === 'ringing') leg.started_at = minDef(leg.started_at, e.timestamp)
    if (status === 'ringing') leg.ringing_at = minDef(leg.ringing_at, e.timestamp)
    if (status === 'answered') leg.answered_at = minDef(leg.answered_at, call.answered_at ?? e.timestamp)
    if (TERMINAL_STATUSES.has(status)) {
      const t = { status, seq: stamp.seq, at: call.ended_at ?? e.timestamp }
      const cur = leg.terminal
      if (!cur || t.seq > cur.seq || (t.seq === cur.seq && t.at > cur.at)) leg.terminal = t
      leg.ended_at = maxDef(leg.ended_at, call.ended_at ?? e.timestamp)
    }
  }
  // explicit times count whatever the status says (a completed callback may carry answered_at)
  leg.started_at = minDef(leg.started_at, call.started_at)
  leg.answered_at = minDef(leg.answered_at, call.answered_at)
  if (call.ended_at !== undefined && (!status || TERMINAL_STATUSES.has(status)))
    leg.ended_at = maxDef(leg.ended_at, call.ended_at)
  leg.duration_s = maxDef(leg.duration_s, call.duration_s)

  if (call.disposition) {
    const value = e.value ?? call.revenue
    const dup = j.dispositions.some(
      (d) => d.reported === call.disposition && d.at === stamp.at && d.seq === stamp.seq && d.value === value,
    )
    if (!dup)
      j.dispositions.push({
        ...stamp,
        reported: call.disposition,
        ...(value !== undefined ? { value } : {}),
        ...(e.currency_code ? { currency: e.currency_code.toUpperCase() } : {}),
        raw: rawId,
      })
  }
  return j
}

/**
 * Fold a CRM outcome (closed or reversed) into the journey, keyed by its order id.
 *
 * @example applyOutcome(j, crmEvent, 'raw_9', 'closed', 'order', 'US')
 */
export function applyOutcome(
  prev: CallJourney,
  e: EcapiEvent,
  rawId: string,
  status: Outcome['status'],
  linkedBy: Outcome['linkedBy'],
  region: string,
): CallJourney {
  const j: CallJourney = structuredClone(prev)
  j.n += 1
  applyCommon(j, e, region, false)
  const stamp = stampOf(j, e)
  const order = e.properties?.transaction_id ?? ''
  const cur = j.outcomes[order]
  const revenue = e.ext?.call?.revenue ?? e.value
  if (cur && !newer(stamp, cur)) {
    // an older report of an outcome we already have: keep what is newer, remember the link
    return j
  }
  j.outcomes[order] = {
    ...stamp,
    order,
    status,
    // a reversal without an amount keeps the amount it reverses (for `previous_value`)
    ...(revenue !== undefined ? { revenue } : cur?.revenue !== undefined ? { revenue: cur.revenue } : {}),
    ...(e.currency_code ? { currency: e.currency_code.toUpperCase() } : {}),
    raw: rawId,
    linkedBy: cur?.linkedBy ?? linkedBy,
  }
  return j
}

/** The journey as the rules see it: call-level facts computed over the tree of legs. */
export interface CallView {
  connected: boolean
  /** Earliest answer over the legs (reported, or ended − duration when only the end was reported). */
  answeredAt?: number
  startedAt?: number
  ended: boolean
  endedAt?: number
  /** Longest talk time over the legs: a transfer's buyer leg may be the one that qualifies. */
  durationS?: number
  /** The leg whose answer counts, and the raw inputs that showed it. */
  answerRaw: string[]
  endRaw: string[]
  terminal?: CallStatus
}

function legTalk(l: Leg): number | undefined {
  if (l.duration_s !== undefined) return l.duration_s
  if (l.answered_at !== undefined && l.ended_at !== undefined) return Math.max(0, l.ended_at - l.answered_at)
  return undefined
}

function legAnsweredAt(l: Leg): number | undefined {
  if (l.answered_at !== undefined) return l.answered_at
  const talk = legTalk(l)
  if (l.terminal?.status === 'completed' && talk !== undefined && talk > 0 && l.ended_at !== undefined)
    return l.ended_at - talk
  return undefined
}

const legConnected = (l: Leg) =>
  l.statuses.includes('answered') ||
  l.answered_at !== undefined ||
  (l.terminal?.status === 'completed' && (legTalk(l) ?? 0) > 0)

export function callView(j: CallJourney): CallView {
  const legs = Object.entries(j.legs)
  const root = j.legs[j.root]
  let answeredAt: number | undefined
  let answerRaw: string[] = []
  let startedAt: number | undefined
  let durationS: number | undefined
  let connected = false
  for (const [, l] of legs) {
    if (legConnected(l)) {
      connected = true
      const at = legAnsweredAt(l)
      if (at !== undefined && (answeredAt === undefined || at < answeredAt)) {
        answeredAt = at
        answerRaw = [l.raw.answered ?? l.raw.completed].filter((r): r is string => !!r)
      } else if (answerRaw.length === 0)
        answerRaw = [l.raw.answered ?? l.raw.completed].filter((r): r is string => !!r)
    }
    startedAt = minDef(startedAt, minDef(l.started_at, minDef(l.ringing_at, legAnsweredAt(l))))
    durationS = maxDef(durationS, legTalk(l))
  }
  // the call ends when the caller's (root) leg ends; with no root leg seen, when every known leg has ended
  const ended = root?.terminal
    ? true
    : !root?.statuses.length && legs.length > 0 && legs.every(([, l]) => l.terminal !== undefined)
  const endLeg = root?.terminal ? root : legs.find(([, l]) => l.terminal)?.[1]
  const endRaw = endLeg?.terminal ? [endLeg.raw[endLeg.terminal.status]].filter((r): r is string => !!r) : []
  return {
    connected,
    answeredAt,
    startedAt: startedAt ?? answeredAt,
    ended,
    endedAt: ended ? endLeg?.ended_at : undefined,
    durationS,
    answerRaw,
    endRaw: ended ? endRaw : [],
    terminal: ended ? endLeg?.terminal?.status : undefined,
  }
}

/** The effective disposition: the newest by (time, sequence, arrival). */
export function currentDisposition(j: CallJourney): DispositionEntry | undefined {
  let best: DispositionEntry | undefined
  for (const d of j.dispositions) if (newer(d, best)) best = d
  return best
}
