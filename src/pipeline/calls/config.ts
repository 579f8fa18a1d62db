/**
 * Call rules configuration: the `campaigns`, `dispositions` and `calls` sections of closeloop.yaml, as TypeBox
 * schemas, shipped defaults, vertical presets, and `compileRules` which validates them with precise dotted
 * paths (`campaigns.mortgage-*.qualified_after_s: must be ≥ 0`) and turns them into plain, ready-to-match data.
 *
 * @example
 *   const { rules, errors } = compileRules({
 *     campaigns: { default: { qualified_after_s: 120 }, 'mortgage-*': { preset: 'mortgage' } },
 *     dispositions: { Sale: { value: 'full' } },
 *     calls: { spam: { blocklist: ['+1900*'] } },
 *   })
 *   matchCampaign(rules, { name: 'mortgage-ny' }).qualifiedAfterS // 180
 */
import { type Static, Type as T } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { EVENT_TYPES, type EventType } from '../../model/ecapi.ts'
import { validTimeZone } from '../../model/time-zone.ts'
import { pointerToDotted, validator } from '../../model/validate.ts'
import { globToRegExp } from '../route.ts'

// ---------------------------------------------------------------------------------------------------------
// value rules

const VALUE_BASES = ['revenue', 'full', 'payout', 'predicted', 'profit', 'value', 'none'] as const
/** What a value rule multiplies or returns: `full` is a synonym of `revenue` (DESIGN's disposition table). */
export type ValueBase = (typeof VALUE_BASES)[number]

const Base = T.Union(
  VALUE_BASES.map((b) => T.Literal(b)),
  {
    description:
      'revenue|full: buyer revenue (or the outcome revenue for closed_outcome); payout; predicted (pLTV); profit: revenue − payout; value: the campaign value; none',
  },
)
const ValueRuleOne = T.Union([
  T.Number({ minimum: 0 }),
  Base,
  T.Object({ fixed: T.Number({ minimum: 0 }) }, { additionalProperties: false }),
  T.Object(
    { fraction: T.Number({ minimum: 0, maximum: 1 }), of: T.Optional(Base) },
    { additionalProperties: false },
  ),
  T.Object(
    { margin: T.Number({ minimum: 0, maximum: 10 }), of: T.Optional(Base) },
    { additionalProperties: false },
  ),
])
/** A value rule, or a list of them: the first that yields a number wins (`[predicted, full, 50]`). */
export const ValueRule = T.Union([ValueRuleOne, T.Array(ValueRuleOne, { minItems: 1, maxItems: 8 })])
export type ValueRule = Static<typeof ValueRule>

// ---------------------------------------------------------------------------------------------------------
// day-parting windows

export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
const Clock = T.String({
  pattern: '^(([01]\\d|2[0-3]):[0-5]\\d|24:00)$',
  description: 'HH:MM local time, 00:00–24:00',
})
const WindowFields = {
  /** Local days the window applies on; all days when absent. */
  days: T.Optional(T.Array(T.Union(DAYS.map((d) => T.Literal(d))), { minItems: 1, maxItems: 7 })),
  /** Inclusive start, local time; 00:00 when absent. */
  from: T.Optional(Clock),
  /** Exclusive end, local time; 24:00 when absent. `from` after `to` wraps past midnight. */
  to: T.Optional(Clock),
}
const Window = T.Object(WindowFields, { additionalProperties: false })

const CampaignOverrides = {
  qualified_after_s: T.Optional(T.Number({ minimum: 0, maximum: 86_400 })),
  connected_value: T.Optional(ValueRule),
  qualified_value: T.Optional(ValueRule),
  closed_value: T.Optional(ValueRule),
}

// ---------------------------------------------------------------------------------------------------------
// vertical presets

/**
 * Duration floors per vertical, in seconds. Only insurance and mortgage have a field source (DESIGN §1.4 and
 * the background brief: insurance 90–180 s, mortgage 120–240 s; we take the midpoints). The others are the
 * usual pay-per-call buyer "buffers" for their verticals, not measurements: tune them per buyer contract.
 */
export const VERTICAL_PRESETS = {
  /** Midpoint of 90–180 s (DESIGN §1.4). */
  insurance: { qualified_after_s: 120 },
  /** Midpoint of 120–240 s (DESIGN §1.4). */
  mortgage: { qualified_after_s: 180 },
  /** Booking calls are short: a minute is enough to schedule a plumber (common buyer buffer, unmeasured). */
  home_services: { qualified_after_s: 60 },
  /** Legal intake screens the case before the buffer: two minutes, like insurance (unmeasured). */
  legal: { qualified_after_s: 120 },
  /** Solar qualification asks about roof, ownership and bill: longer, like mortgage's low end (unmeasured). */
  solar: { qualified_after_s: 120 },
  /** Auto insurance quotes run short of full insurance intake (low end of 90–180 s). */
  auto: { qualified_after_s: 90 },
  /** Medicare calls need eligibility checks; buyers commonly pay past two minutes (unmeasured). */
  medicare: { qualified_after_s: 120 },
  /** Debt relief intake collects amounts owed; 90 s is the common buffer (unmeasured). */
  debt: { qualified_after_s: 90 },
} as const
export type Vertical = keyof typeof VERTICAL_PRESETS

// ---------------------------------------------------------------------------------------------------------
// schemas

export const CampaignConfig = T.Object(
  {
    /** A vertical whose floor applies unless `qualified_after_s` is given. */
    preset: T.Optional(T.Union(Object.keys(VERTICAL_PRESETS).map((k) => T.Literal(k)))),
    ...CampaignOverrides,
    /** Tracking-number globs (`+1800555*`) that select this campaign, besides its key. */
    tracking_numbers: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 64 }), { maxItems: 1000 })),
    currency: T.Optional(T.String({ pattern: '^[A-Za-z]{3}$' })),
    /** Nominal value of a conversion: the base of value rules when no revenue is known. */
    value: T.Optional(T.Number({ minimum: 0 })),
    /** Same caller within this many days is a repeat, not a new conversion; 0 turns the check off. */
    repeat_caller_days: T.Optional(T.Number({ minimum: 0, maximum: 3650 })),
    /** IANA time zone for `hours` and `dayparts`. */
    timezone: T.Optional(T.String({ minLength: 1 })),
    /** When set, calls starting outside these windows are held back (`outside_hours`). */
    hours: T.Optional(T.Union([Window, T.Array(Window, { minItems: 1, maxItems: 50 })])),
    /** The first window the call starts in overrides the floor and value rules. */
    dayparts: T.Optional(
      T.Array(T.Object({ ...WindowFields, ...CampaignOverrides }, { additionalProperties: false }), {
        maxItems: 50,
      }),
    ),
  },
  { additionalProperties: false },
)
export type CampaignConfig = Static<typeof CampaignConfig>

export const DispositionConfig = T.Object(
  {
    /** false: never a conversion (No Answer, Existing Customer, Cancelled). */
    convert: T.Optional(T.Boolean()),
    value: T.Optional(ValueRule),
    /** ECAPI event type the signal stands for (`purchase`, `qualify_lead`, `schedule`…); `signal` is a synonym. */
    event_type: T.Optional(T.Union(EVENT_TYPES.map((e) => T.Literal(e)))),
    signal: T.Optional(T.Union(EVENT_TYPES.map((e) => T.Literal(e)))),
    /** Emit a `follow_up` signal (to a dialer webhook, say). */
    follow_up: T.Optional(T.Boolean()),
    /** `service`: a service interaction, held back and never a conversion. */
    classify: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    /** Other spellings platforms send for this disposition (matched case-insensitively, like the name). */
    aliases: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 255 }), { maxItems: 100 })),
  },
  { additionalProperties: false },
)
export type DispositionConfig = Static<typeof DispositionConfig>

/** Twilio StirVerstat results that mean the caller id could not be trusted. */
export const DEFAULT_HELD_ATTESTATIONS = [
  'TN-Validation-Failed-A',
  'TN-Validation-Failed-B',
  'TN-Validation-Failed-C',
  'No-TN-Validation',
]

const Attestations = T.Array(T.String({ minLength: 1, maxLength: 64 }), {
  maxItems: 50,
  default: DEFAULT_HELD_ATTESTATIONS,
})

export const CallsConfig = T.Object(
  {
    currency: T.String({ pattern: '^[A-Za-z]{3}$', default: 'USD' }),
    timezone: T.String({ minLength: 1, default: 'UTC' }),
    /** Region for callers written without a country code. */
    default_region: T.String({ minLength: 2, maxLength: 2, default: 'US' }),
    /** 30 days: the usual duplicate-caller window in pay-per-call buyer contracts. */
    repeat_caller_days: T.Number({ minimum: 0, maximum: 3650, default: 30 }),
    /** A holdback that arrives after conversions were sent (spam found late, Existing Customer) retracts them. */
    retract_on_holdback: T.Boolean({ default: true }),
    /**
     * Also write the unscoped names of earlier builds (pipeline/names.ts), so nodes of an earlier build still
     * find the calls this one starts: on while nodes are upgraded one at a time, off once all run this build.
     */
    write_legacy_names: T.Boolean({ default: false }),
    spam: T.Object(
      {
        /** STIR/SHAKEN results held back (Twilio StirVerstat values, or bare letters A/B/C). */
        attestation: Attestations,
        /** Also hold back attestation C (the carrier vouches for neither caller nor number). */
        hold_attestation_c: T.Boolean({ default: false }),
        /** Exact numbers, or prefixes ending in `*` (`+1900*`). */
        blocklist: T.Array(T.String({ minLength: 1, maxLength: 64 }), { default: [], maxItems: 100_000 }),
        /** Many calls from one caller or one prefix that end just past the floor: floor-gaming. */
        pattern: T.Object(
          {
            enabled: T.Boolean({ default: true }),
            /** 3 such calls: two can be chance, three in a day from one number is a script. */
            calls: T.Integer({ minimum: 2, maximum: 1000, default: 3 }),
            /** 24 h: floor-gaming bursts come within a day. */
            window_h: T.Number({ minimum: 0.1, maximum: 24 * 90, default: 24 }),
            /** "Just past" = ending within 15 s after the floor: a person hanging up on a timer, not a conversation. */
            just_past_s: T.Number({ minimum: 1, maximum: 3600, default: 15 }),
            /** Also count by the caller's prefix (country code + this many digits): 7 = NANP area code + exchange. */
            prefix_digits: T.Integer({ minimum: 0, maximum: 14, default: 7 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    crm: T.Object(
      {
        /** ECAPI event types that are closed outcomes. */
        outcome_types: T.Array(T.Union(EVENT_TYPES.map((e) => T.Literal(e))), {
          default: ['close_convert_lead', 'purchase'],
        }),
        /** ECAPI event types that reverse a closed outcome. */
        reversal_types: T.Array(T.Union(EVENT_TYPES.map((e) => T.Literal(e))), {
          default: ['refund', 'close_unconvert_lead'],
        }),
        /** A CRM outcome joins a call found by caller phone only if the call is at most this old: Google's click window. */
        phone_link_days: T.Number({ minimum: 0, maximum: 3650, default: 90 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
)
export type CallsConfig = Static<typeof CallsConfig>

/** DESIGN §1.4's five dispositions, plus two reversals so a reversed Sale has a name out of the box. */
export const DEFAULT_DISPOSITIONS: Record<string, DispositionConfig> = {
  Sale: { event_type: 'close_convert_lead', value: 'full', aliases: ['sold', 'converted'] },
  /** 0.3: DESIGN's illustrative partial value for a lead that has not closed yet. */
  'Qualified Lead': { event_type: 'qualify_lead', value: { fraction: 0.3 } },
  /** 25: DESIGN's illustrative defined value for a booked appointment. */
  'Appointment Set': { event_type: 'schedule', value: 25 },
  'No Answer': { convert: false, follow_up: true, aliases: ['no_answer', 'noanswer'] },
  'Existing Customer': { convert: false, classify: 'service' },
  Cancelled: { convert: false, classify: 'reversal', aliases: ['canceled'] },
  Returned: { convert: false, classify: 'reversal', aliases: ['refunded', 'chargeback'] },
}

// ---------------------------------------------------------------------------------------------------------
// compiled rules

export interface DayWindow {
  days?: number[]
  /** Minutes after local midnight. */
  from: number
  to: number
}

export interface CompiledCampaign {
  key: string
  /** Matches the campaign name (the key itself, exact or glob). */
  name: RegExp
  exactName: boolean
  trackingNumbers: RegExp[]
  qualifiedAfterS: number
  connectedValue: ValueRule
  qualifiedValue: ValueRule
  closedValue: ValueRule
  currency?: string
  value?: number
  repeatCallerDays: number
  timezone: string
  hours?: DayWindow[]
  dayparts: Array<DayWindow & { overrides: Partial<Pick<CampaignView, OverrideKey>> }>
}

type OverrideKey = 'qualifiedAfterS' | 'connectedValue' | 'qualifiedValue' | 'closedValue'

/** A campaign as it applies to one call (after day-parting). */
export interface CampaignView {
  key: string
  qualifiedAfterS: number
  connectedValue: ValueRule
  qualifiedValue: ValueRule
  closedValue: ValueRule
  currency?: string
  value?: number
  repeatCallerDays: number
  timezone: string
  /** Index of the daypart that applied, if any. */
  daypart?: number
  /** The call started outside the campaign's hours. */
  outsideHours: boolean
}

export interface CompiledDisposition {
  name: string
  convert: boolean
  value: ValueRule
  eventType?: EventType
  followUp: boolean
  classify: string
}

export interface CallRules {
  campaigns: CompiledCampaign[]
  defaultCampaign: CompiledCampaign
  /** Lower-cased name or alias → disposition. */
  dispositions: Map<string, CompiledDisposition>
  currency: string
  defaultRegion: string
  retractOnHoldback: boolean
  /** `calls.write_legacy_names`: journeys also get the aliases an earlier build looks up. */
  writeLegacyNames: boolean
  spam: {
    attestation: Set<string>
    holdAttestationC: boolean
    blockExact: Set<string>
    blockPrefixes: string[]
    pattern?: { calls: number; windowMs: number; justPastS: number; prefixDigits: number }
  }
  crm: { outcomeTypes: Set<string>; reversalTypes: Set<string>; phoneLinkDays: number }
}

export interface RawCallRules {
  campaigns?: unknown
  dispositions?: unknown
  calls?: unknown
}

/** Floor for the implicit `default` campaign: the insurance midpoint, the most common pay-per-call vertical. */
export const DEFAULT_QUALIFIED_AFTER_S = 120

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const PHONE_GLOB = /^\+?[\d*]+$/

const clockMinutes = (hhmm: string | undefined, fallback: number) => {
  if (!hhmm) return fallback
  const [h, m] = hhmm.split(':').map(Number)
  return h * 60 + m
}

function compileWindow(w: { days?: string[]; from?: string; to?: string }): DayWindow {
  return {
    days: w.days?.map((d) => (DAYS as readonly string[]).indexOf(d)),
    from: clockMinutes(w.from, 0),
    to: clockMinutes(w.to, 24 * 60),
  }
}

function check<S extends Parameters<typeof validator>[0]>(
  schema: S,
  value: unknown,
  prefix: string,
  errors: string[],
): Static<S> | undefined {
  const withDefaults = Value.Default(schema, Value.Clone(value))
  const problems = validator(schema)(withDefaults)
  for (const p of problems) errors.push(`${pointerToDotted(p.path, prefix)}: ${p.message}`)
  return problems.length ? undefined : (withDefaults as Static<S>)
}

/**
 * Validate and compile the three sections. Unknown keys, bad globs and bad time zones are reported with
 * their dotted path; the rules returned are usable (defaults) even when errors are present.
 */
export function compileRules(raw: RawCallRules): { rules: CallRules; errors: string[] } {
  const errors: string[] = []
  const calls = check(CallsConfig, raw.calls ?? {}, 'calls', errors) ?? check(CallsConfig, {}, 'calls', [])!
  if (!validTimeZone(calls.timezone))
    errors.push(`calls.timezone: unknown IANA time zone "${calls.timezone}"`)
  const tz = validTimeZone(calls.timezone) ? calls.timezone : 'UTC'

  // campaigns
  const campaignsRaw = raw.campaigns ?? {}
  const campaigns: CompiledCampaign[] = []
  let defaultCampaign: CompiledCampaign | undefined
  if (!isObj(campaignsRaw)) errors.push('campaigns: expected a mapping of campaign name → rules')
  else
    for (const [key, value] of Object.entries(campaignsRaw)) {
      const path = `campaigns.${key}`
      const c = check(CampaignConfig, value ?? {}, path, errors)
      if (!c) continue
      if (c.timezone && !validTimeZone(c.timezone)) {
        errors.push(`${path}.timezone: unknown IANA time zone "${c.timezone}"`)
        continue
      }
      const compiled = compileCampaign(key, c, calls, tz)
      if (key === 'default') defaultCampaign = compiled
      else campaigns.push(compiled)
    }

  // dispositions: defaults, then the configured ones replace or add by name (case-insensitive)
  const merged = new Map<string, { name: string; cfg: DispositionConfig }>()
  for (const [name, cfg] of Object.entries(DEFAULT_DISPOSITIONS))
    merged.set(name.toLowerCase(), { name, cfg })
  const dispositionsRaw = raw.dispositions ?? {}
  if (!isObj(dispositionsRaw)) errors.push('dispositions: expected a mapping of disposition name → rule')
  else
    for (const [name, value] of Object.entries(dispositionsRaw)) {
      const d = check(DispositionConfig, value ?? {}, `dispositions.${name}`, errors)
      if (d) merged.set(name.toLowerCase(), { name, cfg: d })
    }
  const dispositions = new Map<string, CompiledDisposition>()
  const aliasOwner = new Map<string, string>()
  for (const { name, cfg } of merged.values()) {
    const classify = cfg.classify ?? (cfg.convert === false ? 'no_conversion' : 'conversion')
    dispositions.set(name.toLowerCase(), {
      name,
      convert: cfg.convert ?? classify === 'conversion',
      value: cfg.value ?? 'none',
      eventType: cfg.event_type ?? cfg.signal,
      followUp: cfg.follow_up ?? false,
      classify,
    })
  }
  // aliases only fill spellings no disposition is named by: a configured name always wins over an alias
  for (const { name, cfg } of merged.values())
    for (const alias of cfg.aliases ?? []) {
      const k = alias.toLowerCase()
      const owner = aliasOwner.get(k)
      if (owner && owner !== name)
        errors.push(`dispositions.${name}.aliases: "${alias}" is already an alias of "${owner}"`)
      else if (!dispositions.has(k)) {
        aliasOwner.set(k, name)
        dispositions.set(k, dispositions.get(name.toLowerCase())!)
      }
    }

  const spamCfg = calls.spam
  const attestation = new Set(spamCfg.attestation.map((a) => a.toLowerCase()))
  const blockExact = new Set<string>()
  const blockPrefixes: string[] = []
  spamCfg.blocklist.forEach((b, i) => {
    const v = b.trim()
    if (!/^\+?\d+\*?$/.test(v))
      errors.push(`calls.spam.blocklist.${i}: expected a number like +12125550000 or a prefix like +1900*`)
    else if (v.endsWith('*')) blockPrefixes.push(v.slice(0, -1))
    else blockExact.add(v)
  })
  const p = spamCfg.pattern
  const rules: CallRules = {
    campaigns,
    defaultCampaign:
      defaultCampaign ??
      compileCampaign('default', { qualified_after_s: DEFAULT_QUALIFIED_AFTER_S }, calls, tz),
    dispositions,
    currency: calls.currency.toUpperCase(),
    defaultRegion: calls.default_region.toUpperCase(),
    retractOnHoldback: calls.retract_on_holdback,
    writeLegacyNames: calls.write_legacy_names,
    spam: {
      attestation,
      holdAttestationC: spamCfg.hold_attestation_c,
      blockExact,
      blockPrefixes,
      pattern: p.enabled
        ? {
            calls: p.calls,
            windowMs: p.window_h * 3_600_000,
            justPastS: p.just_past_s,
            prefixDigits: p.prefix_digits,
          }
        : undefined,
    },
    crm: {
      outcomeTypes: new Set(calls.crm.outcome_types),
      reversalTypes: new Set(calls.crm.reversal_types),
      phoneLinkDays: calls.crm.phone_link_days,
    },
  }
  return { rules, errors }
}

function compileCampaign(key: string, c: CampaignConfig, calls: CallsConfig, tz: string): CompiledCampaign {
  const preset = c.preset ? VERTICAL_PRESETS[c.preset as Vertical] : undefined
  const trackingNumbers = (c.tracking_numbers ?? []).map(globToRegExp)
  const nameIsPhone = key !== 'default' && PHONE_GLOB.test(key)
  if (nameIsPhone) trackingNumbers.unshift(globToRegExp(key))
  const windows = c.hours === undefined ? undefined : Array.isArray(c.hours) ? c.hours : [c.hours]
  return {
    key,
    name: nameIsPhone ? /^(?!)$/ : globToRegExp(key),
    exactName: !key.includes('*'),
    trackingNumbers,
    qualifiedAfterS: c.qualified_after_s ?? preset?.qualified_after_s ?? DEFAULT_QUALIFIED_AFTER_S,
    connectedValue: c.connected_value ?? 'none',
    qualifiedValue: c.qualified_value ?? 'none',
    closedValue: c.closed_value ?? 'full',
    currency: c.currency?.toUpperCase(),
    value: c.value,
    repeatCallerDays: c.repeat_caller_days ?? calls.repeat_caller_days,
    timezone: c.timezone ?? tz,
    hours: windows?.map(compileWindow),
    dayparts: (c.dayparts ?? []).map((d) => ({
      ...compileWindow(d),
      overrides: {
        ...(d.qualified_after_s !== undefined ? { qualifiedAfterS: d.qualified_after_s } : {}),
        ...(d.connected_value !== undefined ? { connectedValue: d.connected_value } : {}),
        ...(d.qualified_value !== undefined ? { qualifiedValue: d.qualified_value } : {}),
        ...(d.closed_value !== undefined ? { closedValue: d.closed_value } : {}),
      },
    })),
  }
}

/**
 * The campaign for a call: exact name, then exact tracking number, then globs in config order, then `default`.
 *
 * @example matchCampaign(rules, { name: 'mortgage-ny', trackingNumber: '+18005550100' }).key // 'mortgage-*'
 */
export function matchCampaign(
  rules: CallRules,
  call: { name?: string; trackingNumber?: string },
): CompiledCampaign {
  const { name, trackingNumber } = call
  if (name) {
    const exact = rules.campaigns.find((c) => c.exactName && c.key === name)
    if (exact) return exact
  }
  if (trackingNumber) {
    const exact = rules.campaigns.find((c) =>
      c.trackingNumbers.some((re) => re.source === `^${escapeRe(trackingNumber)}$`),
    )
    if (exact) return exact
  }
  for (const c of rules.campaigns) {
    if (name && c.name.test(name)) return c
    if (trackingNumber && c.trackingNumbers.some((re) => re.test(trackingNumber))) return c
  }
  return rules.defaultCampaign
}

const escapeRe = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')

const formatters = new Map<string, Intl.DateTimeFormat>()
const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 }

/**
 * Local weekday (0 = Sunday) and minutes after midnight of an instant in an IANA zone.
 *
 * @example localTime(1746558464, 'America/New_York') // { day: 2, minutes: 927 }
 */
export function localTime(epochS: number, timeZone: string): { day: number; minutes: number } {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
    formatters.set(timeZone, f)
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(epochS * 1000)).map((p) => [p.type, p.value]))
  return { day: WEEKDAY[parts.weekday] ?? 0, minutes: Number(parts.hour) * 60 + Number(parts.minute) }
}

/** Whether a local time falls in a window; a window whose `from` is after its `to` wraps past midnight. */
export function inWindow(w: DayWindow, t: { day: number; minutes: number }): boolean {
  const onDay = (day: number) => !w.days || w.days.includes(day)
  if (w.from <= w.to) return onDay(t.day) && t.minutes >= w.from && t.minutes < w.to
  // a window past midnight belongs to the day it opened: Friday 22:00–06:00 includes Saturday 01:00
  if (t.minutes >= w.from) return onDay(t.day)
  return t.minutes < w.to && onDay((t.day + 6) % 7)
}

/** The campaign's rules for a call that started at `startS` (epoch seconds), after hours and day-parting. */
export function campaignView(c: CompiledCampaign, startS: number | undefined): CampaignView {
  const base: CampaignView = {
    key: c.key,
    qualifiedAfterS: c.qualifiedAfterS,
    connectedValue: c.connectedValue,
    qualifiedValue: c.qualifiedValue,
    closedValue: c.closedValue,
    currency: c.currency,
    value: c.value,
    repeatCallerDays: c.repeatCallerDays,
    timezone: c.timezone,
    outsideHours: false,
  }
  if (startS === undefined || (!c.hours && c.dayparts.length === 0)) return base
  const t = localTime(startS, c.timezone)
  if (c.hours && !c.hours.some((w) => inWindow(w, t))) base.outsideHours = true
  const i = c.dayparts.findIndex((w) => inWindow(w, t))
  return i < 0 ? base : { ...base, ...c.dayparts[i].overrides, daypart: i }
}
