/**
 * Call rules as ingest items: a telephony, disposition or CRM event becomes an `IngestItem` whose `derive`
 * folds the event into its call journey and reconciles the journey's signals (see `rules.ts`); a qualify
 * timer fires through `fireCallTimer`. Everything here is pure: the store runs `derive` / `fire` inside its
 * transaction with the journey and facts it loaded.
 *
 * Journeys: key `call:<data set>:<root call id>`; a transfer leg (`parent_call_id`) joins its parent's journey;
 * aliases `call:<data set>:<leg id>`, `phone:<data set>:<identityKey(caller E.164)>` (the newest call from a
 * caller holds it) and `order:<data set>:<transaction id>` let a CRM outcome arriving days later find the call.
 * Every name is scoped by data set (../names.ts): a call belongs to the data set of the input that started
 * it, and an input of another data set never joins it.
 *
 * @example
 *   const { rules, errors } = compileCallRules({ campaigns: config.campaigns, dispositions: config.dispositions, calls: config.calls })
 *   const items = events.map((e) => callItem(e, rules, pipeline))
 *   await store.ingest({ raw, items }, Date.now())
 *   await store.fireTimers({ token, now, limit: 100, fire: (t, ctx) => fireCallTimer(t, ctx, rules, pipeline), journeyKey: timerJourneyKey })
 */
import { hash } from 'node:crypto'
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { DeriveContext, Derived, IngestItem, TimerJob } from '../../store/types.ts'
import { joinClick, joinKeys } from '../attribution/index.ts'
import { dedupKey } from '../dedup.ts'
import type { PipelineConfig } from '../ecapi.ts'
import { callName, legacyNames, orderName, phoneName } from '../names.ts'
import { type CallRules, compileRules, matchCampaign, type RawCallRules } from './config.ts'
import {
  applyCallEvent,
  applyOutcome,
  type CallJourney,
  callView,
  newJourney,
  normalizeCaller,
  type Outcome,
  readJourney,
} from './journey.ts'
import {
  applyChecks,
  evaluate,
  type FactWrites,
  legacyRepeatFactKey,
  patternFactKeys,
  QUALIFY_TIMER_KIND,
  reconcile,
  repeatFactKey,
} from './rules.ts'

export type { CallRules } from './config.ts'
export { DEFAULT_DISPOSITIONS, VERTICAL_PRESETS } from './config.ts'
export type { CallJourney } from './journey.ts'
export { applyValueRule, QUALIFY_TIMER_KIND, qualifyTimerKey } from './rules.ts'

const DAY_S = 86_400

/**
 * Validate and compile the `campaigns`, `dispositions` and `calls` config sections. Errors carry dotted
 * paths; the rules are usable (shipped defaults fill the gaps) even when there are errors.
 *
 * @example compileCallRules({ campaigns: { 'mortgage-*': { preset: 'mortgage' } } }).errors // []
 */
export function compileCallRules(raw: RawCallRules): { rules: CallRules; errors: string[] } {
  return compileRules(raw)
}

/** Whether an event is a CRM outcome or reversal (by event type, with no call status or disposition). */
export function isCrmOutcome(event: EcapiEvent, rules: CallRules): boolean {
  const call = event.ext?.call
  if (call?.status || call?.disposition) return false
  return rules.crm.outcomeTypes.has(event.event_type) || rules.crm.reversalTypes.has(event.event_type)
}

function firstPhone(event: EcapiEvent): string | undefined {
  const p = event.user_data?.phone_numbers
  return Array.isArray(p) ? p[0] : p
}

/** Fact keys an input's caller and campaign let the store load for the holdback checks. */
function factKeys(event: EcapiEvent, rules: CallRules): string[] {
  const call = event.ext?.call
  const caller = normalizeCaller(call?.caller, rules.defaultRegion)
  if (!caller) return []
  const tracking = normalizeCaller(call?.tracking_number, rules.defaultRegion) ?? call?.tracking_number
  const matched = matchCampaign(rules, { name: call?.campaign, trackingNumber: tracking }).key
  const campaigns = [...new Set([call?.campaign, matched].filter((c): c is string => !!c))]
  return [
    ...campaigns.flatMap((c) => [
      repeatFactKey(event.data_set_id, c, caller),
      legacyRepeatFactKey(c, caller),
    ]),
    ...(rules.spam.pattern ? patternFactKeys(caller, rules.spam.pattern.prefixDigits) : []),
  ]
}

/**
 * Aliases the journey should be findable by that were not written yet (marks them written). With
 * `legacy`, also the unscoped names an earlier build looks a call up by (its key among them, as an alias).
 */
function newAliases(j: CallJourney, legacy: boolean): string[] {
  const want: string[] = []
  const ds = j.dataSetId
  if (j.key.startsWith('call:')) {
    // a journey an earlier version keyed `call:<root>` is found by its scoped name from now on
    if (j.key !== callName(ds, j.root)) want.push(callName(ds, j.root))
    for (const leg of Object.keys(j.legs)) if (leg !== j.root) want.push(callName(ds, leg))
    if (j.caller) want.push(phoneName(ds, j.caller))
    if (legacy) {
      for (const leg of [j.root, ...Object.keys(j.legs)])
        if (legacyNames.call(leg) !== j.key) want.push(legacyNames.call(leg))
      if (j.caller) want.push(legacyNames.phone(j.caller))
    }
  }
  for (const o of j.orders) want.push(orderName(ds, o))
  if (legacy) for (const o of j.orders) want.push(legacyNames.order(o))
  const fresh = [...new Set(want)].filter((a) => !j.aliases.includes(a))
  j.aliases.push(...fresh)
  return fresh
}

function finish(
  j: CallJourney,
  ctx: { eventId: string; rawId: string; now: number; facts: Record<string, unknown> },
  loaded: ReadonlySet<string>,
  event: EcapiEvent | undefined,
  rules: CallRules,
  pipeline: PipelineConfig,
): Derived {
  // the repeat-caller fact is the one this input's data set loaded (factKeys), even on a journey another
  // data set's input started
  const facts: FactWrites = applyChecks(
    j,
    rules,
    ctx.facts,
    loaded,
    ctx.now,
    event?.data_set_id ?? j.dataSetId,
  )
  const ev = evaluate(j, rules)
  const r = reconcile(j, ev, { rules, pipeline, eventId: ctx.eventId, rawId: ctx.rawId, now: ctx.now, event })
  if (event) j.last = { eventId: ctx.eventId, rawId: ctx.rawId }
  // a service disposition is itself a held-back input, even when nothing else was withheld by it
  const reported = event?.ext?.call?.disposition
  const holdbacks = new Set(r.holdbacks)
  if (reported && rules.dispositions.get(reported.trim().toLowerCase())?.classify === 'service')
    if (!r.signals.some((s) => s.signal.name !== 'correction' && s.signal.name !== 'follow_up'))
      holdbacks.add('service')
  const aliases = newAliases(j, rules.writeLegacyNames)
  return {
    journey: {
      key: j.key,
      state: j as unknown as Record<string, unknown>,
      ...(aliases.length ? { aliases } : {}),
    },
    signals: r.signals,
    ...(Object.keys(facts).length ? { facts } : {}),
    ...(r.timers.length ? { timers: r.timers } : {}),
    ...(r.cancelTimers.length ? { cancelTimers: r.cancelTimers } : {}),
    ...(holdbacks.size ? { holdbacks: [...holdbacks] } : {}),
  }
}

/** A short digest of an input's content: what tells two anonymous CRM outcomes apart. */
const digestOf = (event: EcapiEvent) => hash('sha256', JSON.stringify(event), 'hex').slice(0, 16)

/**
 * The journey if it belongs to `dataSetId`. Only a name of an earlier version (unscoped) can find another
 * data set's journey; the input then starts its own.
 */
function ofDataSet(j: CallJourney | undefined, dataSetId: string): CallJourney | undefined {
  return j?.dataSetId === dataSetId ? j : undefined
}

/**
 * An ingest item for an event carrying `ext.call` (status callbacks, dispositions, and CRM outcomes, which
 * it hands to `crmItem`).
 *
 * @example callItem({ data_set_id: 'acme', timestamp: 1746558464, event_type: 'contact',
 *   ext: { call: { call_id: 'CA1', status: 'answered', caller: '+12125550000' } } }, rules, pipeline)
 */
export function callItem(event: EcapiEvent, rules: CallRules, pipeline: PipelineConfig): IngestItem {
  const call = event.ext?.call
  if (!call || isCrmOutcome(event, rules)) return crmItem(event, rules, pipeline)
  const root = call.parent_call_id || call.call_id
  const ds = event.data_set_id
  const keys = factKeys(event, rules)
  const loaded = new Set(keys)
  const caller = normalizeCaller(call.caller, rules.defaultRegion)
  const tracking = normalizeCaller(call.tracking_number, rules.defaultRegion)
  const joins = joinKeys(ds, tracking, caller)
  const legs = [...new Set([root, call.call_id])]
  return {
    event,
    dedupKey: dedupKey(event),
    journey: {
      key: callName(ds, root),
      aliases: legs.map((id) => callName(ds, id)),
      legacy: { key: legacyNames.call(root), aliases: legs.map(legacyNames.call) },
    },
    ...(keys.length || joins.length ? { facts: [...keys, ...joins] } : {}),
    derive(ctx: DeriveContext): Derived {
      const found = readJourney(ctx.journey?.state)
      const prev = ofDataSet(found, ds)
      const start = prev ?? newJourney(root, ds, found ? undefined : ctx.journey?.key)
      // the click behind the call: the platform's own click id, the DNI number's visitor, or a form's phone.
      // Joined once: the pool number may be held by another visitor by the time a later event of the call
      // arrives, and joining again merged that visitor's click ids into this call (a review reproduced it)
      const before = start.clickIds.attribution
      const joined = before === undefined ? joinClick(event, ctx.facts, tracking, caller) : event
      const j = applyCallEvent(start, joined, ctx.rawId, rules.defaultRegion)
      const out = finish(j, ctx, loaded, joined, rules, pipeline)
      const after = j.clickIds.attribution
      return before === undefined && after !== undefined ? { ...out, attribution: String(after) } : out
    },
  }
}

/**
 * An ingest item for a CRM outcome (`close_convert_lead` / `purchase`) or reversal (`refund` /
 * `close_unconvert_lead`). It finds its call by `ext.call.call_id`, else by order id, else by the caller's
 * phone (only when that call is within `calls.crm.phone_link_days`). An outcome that finds no call still
 * yields `closed_outcome` on a journey of its own (`crm:<data_set_id>:<order or id>`), `linked_by: none`.
 *
 * @example crmItem({ data_set_id: 'acme', timestamp: 1746800000, event_type: 'close_convert_lead', value: 1800,
 *   properties: { transaction_id: 'POL-9' }, user_data: { phone_numbers: ['+12125550000'] } }, rules, pipeline)
 */
export function crmItem(event: EcapiEvent, rules: CallRules, pipeline: PipelineConfig): IngestItem {
  const callId = event.ext?.call?.call_id
  const order = event.properties?.transaction_id
  const phone = normalizeCaller(event.ext?.call?.caller ?? firstPhone(event), rules.defaultRegion)
  const ds = event.data_set_id
  const present = (names: Array<string | undefined>) => names.filter((a): a is string => !!a)
  const aliases = present([
    callId && callName(ds, callId),
    order && orderName(ds, order),
    phone && phoneName(ds, phone),
  ])
  const legacy = present([
    callId && legacyNames.call(callId),
    order && legacyNames.order(order),
    phone && legacyNames.phone(phone),
  ])
  const status: Outcome['status'] = rules.crm.reversalTypes.has(event.event_type) ? 'reversed' : 'closed'
  return {
    event,
    dedupKey: dedupKey(event),
    journey: {
      ...(callId ? { key: callName(ds, callId) } : {}),
      aliases,
      legacy: { ...(callId ? { key: legacyNames.call(callId) } : {}), aliases: legacy },
    },
    derive(ctx: DeriveContext): Derived {
      let j = ofDataSet(readJourney(ctx.journey?.state), ds)
      let linkedBy: Outcome['linkedBy'] = 'none'
      if (j) {
        if (callId && (j.root === callId || j.legs[callId])) linkedBy = 'call_id'
        else if (order && j.orders.includes(order)) linkedBy = 'order'
        else if (phone && j.caller === phone) linkedBy = 'phone'
        else linkedBy = j.key.startsWith('crm:') ? 'none' : 'call_id'
        if (linkedBy === 'phone') {
          const v = callView(j)
          const callAt = v.endedAt ?? v.answeredAt ?? v.startedAt
          if (callAt !== undefined && event.timestamp - callAt > rules.crm.phoneLinkDays * DAY_S)
            j = undefined
        }
      }
      if (!j) {
        if (callId) {
          j = newJourney(callId, ds)
          linkedBy = 'call_id'
        } else {
          // with neither order nor id, the event itself names the outcome: the same outcome sent again joins
          // its journey, while two sales at one time (a CRM's midnight export) stay two (they were one)
          const id = order ?? event.id ?? `${phone ?? 'anon'}@${event.timestamp}#${digestOf(event)}`
          j = newJourney(id, ds, `crm:${ds}:${id}`)
          linkedBy = 'none'
        }
      }
      const next = applyOutcome(j, event, ctx.rawId, status, linkedBy, rules.defaultRegion)
      return finish(next, ctx, new Set(), event, rules, pipeline)
    },
  }
}

/**
 * The journey a timer needs loaded: `qualify:*` timers carry their journey key in the payload.
 *
 * @example timerJourneyKey({ kind: 'call.qualify', payload: { journey: 'call:acme:CA1' }, … }) // 'call:acme:CA1'
 */
export function timerJourneyKey(timer: TimerJob): string | undefined {
  if (timer.kind !== QUALIFY_TIMER_KIND) return undefined
  const k = timer.payload.journey
  return typeof k === 'string' ? k : undefined
}

/**
 * A qualify timer fired: if the call is still live and has passed its floor, it qualifies now (the
 * latency-critical path for `qualified_call`); if the floor moved later (the campaign became known), re-arm.
 *
 * @example fireCallTimer(timer, { eventId, rawId, journey, facts: {}, now }, rules, pipeline).signals[0].signal.name // 'qualified_call'
 */
export function fireCallTimer(
  timer: TimerJob,
  ctx: DeriveContext,
  rules: CallRules,
  pipeline: PipelineConfig,
): Derived {
  if (timer.kind !== QUALIFY_TIMER_KIND) return { signals: [] }
  const prev = readJourney(ctx.journey?.state)
  if (!prev) return { signals: [] }
  const j: CallJourney = structuredClone(prev)
  // the store deleted the timer row when it leased it
  j.qualify = { ...j.qualify, armed: false }
  const ev = evaluate(j, rules)
  const v = ev.view
  if (v.connected && !v.ended && v.answeredAt !== undefined && ctx.now >= (v.answeredAt + ev.floorS) * 1000)
    j.qualify.live = true
  return finish(j, ctx, new Set(), undefined, rules, pipeline)
}
