/**
 * The call rules: from a journey to the signals it should have produced, and from what was already sent to
 * what must be sent now. Rules are *declarative over the journey*: `desiredSignals` says which conversions
 * the call deserves today (call_connected, qualified_call, disposition:<Name>, closed_outcome, follow_up);
 * `reconcile` compares that with `journey.emitted` and yields new signals, restatements (a value changed)
 * and retractions (a conversion no longer holds, or a holdback arrived late). Because the comparison is
 * against state rather than against the input, any arrival order and any number of repeats give the same
 * signals once.
 *
 * Signal ids are `signalId(<journey key>[#gen], <slot>)`: a repeat derives the same id and the store
 * ignores it; a conversion re-earned after a retraction gets the next generation.
 *
 * @example
 *   const ev = evaluate(journey, rules)
 *   const out = reconcile(journey, ev, { rules, pipeline, eventId, rawId, now })
 *   out.signals // [{ signal: { name: 'call_connected', … }, destinations: ['meta'] }]
 */
import { signalConsent } from '../../identity/consent.ts'
import { identityKey } from '../../identity/hash.ts'
import type { CallExtension } from '../../model/call.ts'
import type { EcapiEvent, EventType } from '../../model/ecapi.ts'
import type { Signal } from '../../model/signal.ts'
import type { SignalDraft, TimerDraft } from '../../store/types.ts'
import { type PipelineConfig, routeTo } from '../ecapi.ts'
import { legacyNames } from '../names.ts'
import { makeSignal } from '../signal.ts'
import {
  type CallRules,
  type CampaignView,
  type CompiledDisposition,
  campaignView,
  matchCampaign,
  type ValueBase,
  type ValueRule,
} from './config.ts'
import {
  type CallJourney,
  type CallView,
  callView,
  currentDisposition,
  type DispositionEntry,
  type Emitted,
} from './journey.ts'

export const QUALIFY_TIMER_KIND = 'call.qualify'
/**
 * One qualify timer per journey, named after its key (scoped by data set); a journey an earlier version
 * started keeps the timer name it armed then (`qualify:<root>`), so re-arming or cancelling still finds it.
 */
export const qualifyTimerKey = (j: Pick<CallJourney, 'key' | 'root'>) =>
  j.key === legacyNames.call(j.root) ? `qualify:${j.root}` : `qualify:${j.key}`

const DAY_MS = 86_400_000

// ---------------------------------------------------------------------------------------------------------
// values

export interface ValueInputs {
  /** The signal's revenue: a disposition's own value, the outcome revenue, or the buyer revenue. */
  revenue?: number
  payout?: number
  predicted?: number
  /** The campaign's nominal value. */
  value?: number
}

function baseValue(b: ValueBase, v: ValueInputs): number | undefined {
  switch (b) {
    case 'revenue':
    case 'full':
      return v.revenue ?? v.value
    case 'payout':
      return v.payout
    case 'predicted':
      return v.predicted
    case 'profit':
      return v.revenue !== undefined && v.payout !== undefined ? v.revenue - v.payout : undefined
    case 'value':
      return v.value
    case 'none':
      return undefined
  }
}

/**
 * A value rule applied: fixed, a base (revenue, payout, predicted, profit), a fraction or margin of a base,
 * or a list whose first defined result wins. Rounded to cents (0.3 × 100 is 30, not 30.000000000000004).
 *
 * @example
 *   applyValueRule({ fraction: 0.3 }, { revenue: 200 }) // 60
 *   applyValueRule(['predicted', 'full'], { revenue: 90 }) // 90
 */
export function applyValueRule(rule: ValueRule, v: ValueInputs): number | undefined {
  if (Array.isArray(rule)) {
    for (const r of rule) {
      const x = applyValueRule(r, v)
      if (x !== undefined) return x
    }
    return undefined
  }
  let x: number | undefined
  if (typeof rule === 'number') x = rule
  else if (typeof rule === 'string') x = baseValue(rule, v)
  else if ('fixed' in rule) x = rule.fixed
  else if ('fraction' in rule) {
    const b = baseValue(rule.of ?? 'revenue', v)
    x = b === undefined ? undefined : b * rule.fraction
  } else {
    const b = baseValue(rule.of ?? 'revenue', v)
    x = b === undefined ? undefined : b * rule.margin
  }
  return x === undefined || !Number.isFinite(x) ? undefined : Math.round(x * 100) / 100
}

// ---------------------------------------------------------------------------------------------------------
// evaluation

export interface Desired {
  /** Where it is remembered in `journey.emitted`: the name, or `closed_outcome#<order>`. */
  slot: string
  name: string
  eventType: EventType
  value?: number
  currency: string
  occurredAt: number
  attrs: Record<string, unknown>
  causes: string[]
  /** follow_up is internal: never a conversion, never retracted. */
  conversion: boolean
}

export interface Evaluation {
  view: CallView
  campaign: CampaignView
  desired: Desired[]
  /** Active holdback reasons. */
  holdbacks: string[]
  floorS: number
}

export function campaignFor(j: CallJourney, rules: CallRules, view = callView(j)): CampaignView {
  const c = matchCampaign(rules, { name: j.campaign, trackingNumber: j.trackingNumber })
  return campaignView(c, view.startedAt)
}

export function dispositionRule(
  rules: CallRules,
  d: DispositionEntry | undefined,
): CompiledDisposition | undefined {
  return d ? rules.dispositions.get(d.reported.trim().toLowerCase()) : undefined
}

const uniq = (xs: Array<string | undefined>) => [...new Set(xs.filter((x): x is string => !!x))]

/**
 * What this journey deserves now, before holdbacks are applied (they are listed separately so a
 * withheld signal can still be recorded on the journey).
 */
export function evaluate(j: CallJourney, rules: CallRules): Evaluation {
  const view = callView(j)
  const campaign = campaignFor(j, rules, view)
  const floorS = campaign.qualifiedAfterS
  const currency = (fallback?: string) =>
    (fallback ?? j.currency ?? campaign.currency ?? rules.currency).toUpperCase()
  const money = { payout: j.payout?.v, predicted: j.predicted?.v, value: campaign.value }
  const disp = currentDisposition(j)
  const drule = dispositionRule(rules, disp)
  const attribution =
    j.clickIds.attribution ?? (Object.keys(j.clickIds).some((k) => k !== 'clicked_at') ? 'click_id' : 'none')
  const common = {
    call_id: j.root,
    campaign: campaign.key,
    ...(j.campaign ? { campaign_name: j.campaign } : {}),
    ...(campaign.daypart !== undefined ? { daypart: campaign.daypart } : {}),
    attribution,
  }
  const desired: Desired[] = []

  if (view.connected) {
    const answeredBy = Object.values(j.legs).some((l) => l.statuses.includes('answered'))
      ? 'answered'
      : 'completed'
    desired.push({
      slot: 'call_connected',
      name: 'call_connected',
      eventType: 'contact',
      value: applyValueRule(campaign.connectedValue, { ...money, revenue: j.revenue?.v }),
      currency: currency(),
      occurredAt: view.answeredAt ?? view.startedAt ?? 0,
      attrs: { ...common, reason: answeredBy },
      causes: view.answerRaw,
      conversion: true,
    })
    const byDuration = view.durationS !== undefined && view.durationS >= floorS
    // a live crossing counts unless the call has since ended with a known, shorter duration
    const byLive = j.qualify.live === true && (!view.ended || view.durationS === undefined)
    if (byDuration || byLive)
      desired.push({
        slot: 'qualified_call',
        name: 'qualified_call',
        eventType: 'qualify_lead',
        value: applyValueRule(campaign.qualifiedValue, { ...money, revenue: j.revenue?.v }),
        currency: currency(),
        occurredAt:
          view.answeredAt !== undefined ? view.answeredAt + floorS : (view.endedAt ?? view.startedAt ?? 0),
        attrs: {
          ...common,
          floor_s: floorS,
          ...(view.durationS !== undefined ? { duration_s: view.durationS } : {}),
          judged: byDuration ? 'duration' : 'live',
        },
        causes: [...view.answerRaw, ...view.endRaw],
        conversion: true,
      })
  }

  if (disp && drule) {
    const attrs = {
      ...common,
      disposition: drule.name,
      reported: disp.reported,
      classify: drule.classify,
    }
    if (drule.convert)
      desired.push({
        slot: `disposition:${drule.name}`,
        name: `disposition:${drule.name}`,
        eventType: drule.eventType ?? 'custom',
        value: applyValueRule(drule.value, { ...money, revenue: disp.value ?? j.revenue?.v }),
        currency: currency(disp.currency),
        occurredAt: disp.at,
        attrs: { ...attrs, ...(drule.eventType ? { event_type: drule.eventType } : {}) },
        causes: [disp.raw, ...view.answerRaw],
        conversion: true,
      })
    if (drule.followUp)
      desired.push({
        slot: 'follow_up',
        name: 'follow_up',
        eventType: 'custom',
        currency: currency(),
        occurredAt: disp.at,
        attrs,
        causes: [disp.raw],
        conversion: false,
      })
  }

  for (const o of Object.values(j.outcomes)) {
    if (o.status !== 'closed') continue
    desired.push({
      slot: `closed_outcome#${o.order}`,
      name: 'closed_outcome',
      eventType: 'close_convert_lead',
      value: applyValueRule(campaign.closedValue, { ...money, revenue: o.revenue }),
      currency: currency(o.currency),
      occurredAt: o.at,
      attrs: {
        ...common,
        ...(o.order ? { order_id: o.order } : {}),
        ...(o.revenue !== undefined ? { revenue: o.revenue } : {}),
        linked_by: o.linkedBy,
      },
      causes: [o.raw, ...view.answerRaw],
      conversion: true,
    })
  }

  const holdbacks = [...j.flags]
  if (campaign.outsideHours) holdbacks.push('outside_hours')
  if (drule?.classify === 'service') holdbacks.push('service')
  return { view, campaign, desired, holdbacks: uniq(holdbacks), floorS }
}

// ---------------------------------------------------------------------------------------------------------
// holdback checks

/** The spam reason a journey's own facts show (attestation, blocklist), if any. */
export function spamReason(j: CallJourney, rules: CallRules): { reason: string; detail: string } | undefined {
  const a = j.attestation?.trim()
  if (a) {
    const low = a.toLowerCase()
    if (rules.spam.attestation.has(low)) return { reason: 'spam:attestation', detail: a }
    if (rules.spam.holdAttestationC && (low === 'c' || /-c$/.test(low)))
      return { reason: 'spam:attestation', detail: a }
  }
  const c = j.caller
  if (c && (rules.spam.blockExact.has(c) || rules.spam.blockPrefixes.some((p) => c.startsWith(p))))
    return { reason: 'spam:blocklist', detail: c }
  return undefined
}

/**
 * Where a caller's first call to a campaign is remembered, per data set: one caller phoning two businesses
 * (two data sets) that both call their campaign `default` is no repeat caller of either (the second was held
 * back before, a review found). Keys hold a hash of the caller, never the number itself (retention scrubs
 * values, not keys).
 */
export const repeatFactKey = (dataSetId: string, campaign: string, caller: string) =>
  `caller:${dataSetId}:${campaign}:${identityKey(caller)}`
/**
 * The key before it was scoped by data set, still read (never written) for one repeat window after an
 * upgrade, so a caller remembered the day before is not counted again.
 */
export const legacyRepeatFactKey = (campaign: string, caller: string) =>
  `caller:${campaign}:${identityKey(caller)}`
export const patternFactKeys = (caller: string, prefixDigits: number) => [
  `pattern:caller:${identityKey(caller)}`,
  ...(prefixDigits > 0 ? [`pattern:prefix:${caller.slice(0, 1 + prefixDigits)}`] : []),
]

export type FactWrites = Record<string, { value: unknown; ttlMs: number } | null>

interface RepeatFact {
  call_id: string
  at: number
}

/**
 * Flag sticky holdbacks on the journey (mutates `j`): spam from its own facts; a repeat caller when it
 * connects (fact `caller:<campaign>:<E.164>`, TTL = the campaign's window); floor-gaming when it ends just
 * past the floor (facts `pattern:caller:…` / `pattern:prefix:…`). A check whose fact was not loaded (the
 * input did not carry the caller) waits for an input that does. Returns the facts to write.
 */
export function applyChecks(
  j: CallJourney,
  rules: CallRules,
  facts: Record<string, unknown>,
  loaded: ReadonlySet<string>,
  nowMs: number,
  dataSetId = j.dataSetId,
): FactWrites {
  const writes: FactWrites = {}
  const flag = (reason: string, note: unknown) => {
    if (!j.flags.includes(reason)) j.flags.push(reason)
    j.notes[reason] ??= note
  }
  const spam = spamReason(j, rules)
  if (spam) flag(spam.reason, spam.detail)

  const view = callView(j)
  const campaign = campaignFor(j, rules, view)
  const caller = j.caller
  if (!caller) return writes

  if (!j.checks.repeat && view.connected) {
    if (campaign.repeatCallerDays <= 0) j.checks.repeat = true
    else {
      const campaignKey = j.campaign ?? campaign.key
      const key = repeatFactKey(dataSetId, campaignKey, caller)
      if (loaded.has(key)) {
        const prior = (facts[key] ?? facts[legacyRepeatFactKey(campaignKey, caller)]) as
          | RepeatFact
          | undefined
        if (prior && prior.call_id !== j.root)
          flag('repeat_caller', { repeat_of: prior.call_id, first_at: prior.at })
        else if (!prior)
          writes[key] = { value: { call_id: j.root, at: nowMs }, ttlMs: campaign.repeatCallerDays * DAY_MS }
        j.checks.repeat = true
      }
    }
  }

  const p = rules.spam.pattern
  if (p && !j.checks.pattern && view.ended) {
    const d = view.durationS
    const floor = campaign.qualifiedAfterS
    if (!view.connected || d === undefined || d < floor || d > floor + p.justPastS) j.checks.pattern = true
    else {
      const keys = patternFactKeys(caller, p.prefixDigits)
      if (keys.every((k) => loaded.has(k))) {
        for (const key of keys) {
          const prior = ((facts[key] as RepeatFact[] | undefined) ?? []).filter(
            (x) => x.at > nowMs - p.windowMs && x.call_id !== j.root,
          )
          const list = [...prior, { call_id: j.root, at: nowMs }]
          writes[key] = { value: list, ttlMs: p.windowMs }
          if (list.length >= p.calls)
            flag('spam:pattern', {
              key,
              calls: list.length,
              window_ms: p.windowMs,
              duration_s: d,
              floor_s: floor,
            })
        }
        j.checks.pattern = true
      }
    }
  }
  return writes
}

// ---------------------------------------------------------------------------------------------------------
// reconcile

export interface ReconcileContext {
  rules: CallRules
  pipeline: PipelineConfig
  eventId: string
  rawId: string
  /** Epoch ms. */
  now: number
  /** The input being ingested; undefined when a timer fires. */
  event?: EcapiEvent
}

export interface Reconciled {
  signals: SignalDraft[]
  timers: TimerDraft[]
  cancelTimers: string[]
  /** Reasons that withheld at least one conversion in this pass. */
  holdbacks: string[]
}

/** The canonical event a signal speaks for: the input (or the journey's last) with the journey's call facts. */
export function snapshotEvent(
  j: CallJourney,
  ev: Evaluation,
  base: EcapiEvent | undefined,
  nowS: number,
): EcapiEvent {
  const v = ev.view
  const disp = currentDisposition(j)
  const call: CallExtension = {
    ...(base?.ext?.call ?? {}),
    call_id: j.root,
    ...(j.campaign ? { campaign: j.campaign } : {}),
    ...(j.caller ? { caller: j.caller } : {}),
    ...(j.trackingNumber ? { tracking_number: j.trackingNumber } : {}),
    ...(v.terminal ? { status: v.terminal } : v.connected ? { status: 'answered' as const } : {}),
    ...(v.startedAt !== undefined ? { started_at: v.startedAt } : {}),
    ...(v.answeredAt !== undefined ? { answered_at: v.answeredAt } : {}),
    ...(v.endedAt !== undefined ? { ended_at: v.endedAt } : {}),
    ...(v.durationS !== undefined ? { duration_s: v.durationS } : {}),
    ...(disp ? { disposition: disp.reported } : {}),
    ...(j.revenue ? { revenue: j.revenue.v } : {}),
    ...(j.payout ? { payout: j.payout.v } : {}),
    ...(j.predicted ? { predicted_value: j.predicted.v } : {}),
    ...(j.attestation ? { attestation: j.attestation } : {}),
  }
  // a leg's own id stays visible when the input came from a transfer leg
  if (base?.ext?.call?.call_id && base.ext.call.call_id !== j.root) call.parent_call_id = j.root
  const order = base?.properties?.transaction_id ?? j.orders[0]
  const userData = { ...(j.userData ?? {}), ...(base?.user_data ?? {}) }
  return {
    ...(base ?? {}),
    data_set_id: j.dataSetId,
    timestamp: base?.timestamp ?? nowS,
    event_type: base?.event_type ?? 'contact',
    source: 'phone_call',
    ...(Object.keys(userData).length ? { user_data: userData } : {}),
    ...(order ? { properties: { ...(base?.properties ?? {}), transaction_id: order } } : {}),
    ext: { ...(base?.ext ?? {}), call, click_ids: { ...j.clickIds } },
  }
}

const sameMoney = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || Math.abs(a - b) < 0.005

/**
 * Compare what the journey deserves with what it already sent (mutates `j.emitted`, `j.withheld`,
 * `j.qualify`) and return the signals, timers and holdbacks of this pass.
 */
export function reconcile(j: CallJourney, ev: Evaluation, ctx: ReconcileContext): Reconciled {
  const { rules, pipeline } = ctx
  const nowS = Math.floor(ctx.now / 1000)
  const snapshot = snapshotEvent(j, ev, ctx.event, nowS)
  const { consent, consentFor } = signalConsent(snapshot, pipeline.consentDefault, pipeline.consentOptions)
  const spam = ev.holdbacks.some((h) => h.startsWith('spam:'))
  const out: Reconciled = { signals: [], timers: [], cancelTimers: [], holdbacks: [] }
  const withheldNow = new Set<string>()

  const push = (s: Signal) => out.signals.push({ signal: s, destinations: routeTo(pipeline, s) })
  const build = (
    basis: string,
    slot: string,
    name: string,
    eventType: EventType,
    value: number | undefined,
    currency: string | undefined,
    occurredAt: number,
    attrs: Record<string, unknown>,
    causes: string[],
  ): Signal => {
    const event: EcapiEvent = {
      ...snapshot,
      event_type: eventType,
      ...(eventType === 'custom' ? { custom_event: name } : {}),
    }
    if (eventType !== 'custom') delete event.custom_event
    delete event.value
    delete event.currency_code
    const s = makeSignal({
      basis,
      name: slot,
      eventId: ctx.eventId,
      event,
      consent,
      consentFor,
      occurredAt,
      attrs,
      causes: uniq([...causes, ctx.rawId]),
      now: ctx.now,
    })
    s.name = name
    delete s.value
    delete s.currency
    if (value !== undefined) {
      s.value = value
      s.currency = (currency ?? rules.currency).toUpperCase()
    }
    return s
  }

  const desiredSlots = new Set<string>()
  j.withheld = {}
  for (const d of ev.desired) {
    const reasons = d.conversion
      ? ev.holdbacks
      : spam
        ? ev.holdbacks.filter((h) => h.startsWith('spam:'))
        : []
    if (reasons.length) {
      j.withheld[d.slot] = reasons
      for (const r of reasons) withheldNow.add(r)
      continue
    }
    desiredSlots.add(d.slot)
    const prev = j.emitted[d.slot]
    if (!prev || prev.retracted) {
      const gen = prev ? prev.gen + 1 : 0
      const basis = gen ? `${j.key}#${gen}` : j.key
      const s = build(
        basis,
        d.slot,
        d.name,
        d.eventType,
        d.value,
        d.currency,
        d.occurredAt,
        d.attrs,
        d.causes,
      )
      push(s)
      j.emitted[d.slot] = {
        id: s.id,
        name: d.name,
        ...(s.value !== undefined ? { value: s.value, currency: s.currency } : {}),
        occurredAt: d.occurredAt,
        gen,
        retracted: false,
        corrections: prev?.corrections ?? 0,
        causes: s.causes,
        eventType: d.eventType,
      }
      continue
    }
    // a new amount, or the same amount in another currency (100 USD → 100 EUR is a new value too)
    if (
      d.conversion &&
      prev.value !== undefined &&
      d.value !== undefined &&
      (!sameMoney(prev.value, d.value) ||
        (d.currency !== undefined && prev.currency !== undefined && d.currency !== prev.currency))
    )
      push(correction(prev, 'restate', d.value, d.currency, 'value_changed'))
  }

  for (const [slot, e] of Object.entries(j.emitted)) {
    if (e.retracted || desiredSlots.has(slot) || e.name === 'follow_up') continue
    const held = j.withheld[slot]
    if (held?.length) {
      if (rules.retractOnHoldback) push(correction(e, 'retract', 0, e.currency, held.join(',')))
      continue
    }
    push(correction(e, 'retract', 0, e.currency, retractReason(e, j)))
  }

  function correction(
    e: Emitted,
    adjustment: 'retract' | 'restate',
    value: number,
    currency: string | undefined,
    reason: string,
  ): Signal {
    e.corrections += 1
    const s = build(
      `${j.key}|correction|${e.id}`,
      String(e.corrections),
      'correction',
      e.eventType,
      value,
      currency ?? e.currency,
      ctx.event?.timestamp ?? nowS,
      {
        call_id: j.root,
        corrects: e.id,
        corrects_name: e.name,
        corrects_occurred_at: e.occurredAt,
        adjustment,
        previous_value: e.value ?? null,
        previous_currency: e.currency ?? null,
        reason,
      },
      [...e.causes],
    )
    if (adjustment === 'retract') e.retracted = true
    else {
      e.value = value
      if (currency) e.currency = currency
    }
    return s
  }

  // qualification timer: armed while a connected call is live and not yet qualified; cancelled at the end
  const v = ev.view
  const timerKey = qualifyTimerKey(j)
  const qualified = j.emitted.qualified_call && !j.emitted.qualified_call.retracted
  if (v.connected && !v.ended && !qualified && v.answeredAt !== undefined && !j.qualify.live) {
    const due = (v.answeredAt + ev.floorS) * 1000
    if (!j.qualify.armed || j.qualify.due !== due) {
      out.timers.push({
        key: timerKey,
        kind: QUALIFY_TIMER_KIND,
        dueAt: due,
        payload: { journey: j.key, call_id: j.root, eventId: ctx.eventId, rawId: ctx.rawId },
      })
      j.qualify = { ...j.qualify, armed: true, due }
    }
  } else if (j.qualify.armed) {
    out.cancelTimers.push(timerKey)
    j.qualify = { ...j.qualify, armed: false }
  }

  const sentConversion = out.signals.some(
    (s) => s.signal.name !== 'follow_up' && s.signal.name !== 'correction',
  )
  if (!sentConversion && withheldNow.size) out.holdbacks = [...withheldNow]
  return out
}

function retractReason(e: Emitted, j: CallJourney): string {
  if (e.name === 'closed_outcome') return 'outcome_reversed'
  if (e.name === 'qualified_call') return 'duration_below_floor'
  if (e.name.startsWith('disposition:')) {
    const d = currentDisposition(j)
    return d ? `disposition_changed:${d.reported}` : 'disposition_changed'
  }
  return 'no_longer_applies'
}
