/**
 * Field maps: how a call platform's payload becomes canonical call fields, written as configuration.
 *
 * A map entry is a target (a canonical field, see `TARGETS`, or any other name, kept under
 * `ext.call.ext`) and a spec:
 * - `"callId"`: a dot path into the payload (`call.uuid`, `tags.0.name`); `"a | b"` takes the first present;
 *   `$query.name` and `$header.name` read the request's query string and headers;
 * - `{ path, transform, map, default }`: transforms run in order (`number`, `integer`, `money`, `seconds`,
 *   `ms_to_s`, `iso_to_epoch`, `lower`, `upper`, `trim`, `phone`, `bool`, `string`), then the value map
 *   (`{ connected: answered }`, a `null` entry drops the value), then the target's own coercion;
 * - `{ const: "ringba" }`: a constant.
 *
 * Every failure is an `E_INPUT_INVALID` naming the payload field (`/callLengthInSeconds`), never a TypeError.
 *
 * @example
 *   applyFieldMap({ call_id: 'callId', status: { path: 'status', map: { connected: 'answered' } } },
 *     { root: { callId: 'R1', status: 'connected' }, query: {}, headers: {} }, { region: 'US' })
 *   // { call_id: 'R1', status: 'answered' }
 */
import { type Static, Type as T } from '@sinclair/typebox'
import { toE164 } from '../../identity/phone.ts'
import { CALL_STATUSES, type CallStatus } from '../../model/call.ts'
import { EVENT_TYPES } from '../../model/ecapi.ts'
import {
  invalid,
  isObj,
  type Obj,
  parseBool,
  parseEpochSeconds,
  parseMoney,
  parseSeconds,
  pointer,
  scalarText,
} from '../common.ts'

export const TRANSFORMS = [
  'string',
  'number',
  'integer',
  'money',
  'seconds',
  'ms_to_s',
  'iso_to_epoch',
  'lower',
  'upper',
  'trim',
  'phone',
  'bool',
] as const
export type Transform = (typeof TRANSFORMS)[number]

const Scalar = T.Union([T.String(), T.Number(), T.Boolean()])
const TransformName = T.Union(TRANSFORMS.map((t) => T.Literal(t)))

export const FieldSpec = T.Union([
  T.String({ minLength: 1, maxLength: 1024 }),
  T.Object(
    {
      path: T.Optional(T.String({ minLength: 1, maxLength: 1024 })),
      const: T.Optional(Scalar),
      transform: T.Optional(T.Union([TransformName, T.Array(TransformName, { maxItems: 8 })])),
      map: T.Optional(T.Record(T.String(), T.Union([Scalar, T.Null()]))),
      default: T.Optional(Scalar),
    },
    { additionalProperties: false },
  ),
  // null removes a preset's entry
  T.Null(),
])
export type FieldSpec = Static<typeof FieldSpec>
export const FieldMap = T.Record(T.String({ minLength: 1, maxLength: 64 }), FieldSpec)
export type FieldMap = Static<typeof FieldMap>

type Kind =
  | 'text'
  | 'phone'
  | 'epoch'
  | 'seconds'
  | 'money'
  | 'int'
  | 'bool'
  | 'status'
  | 'currency'
  | 'event_type'

/** What each canonical target holds; the limits are the model's (`call.ts`, `identity.ts`). */
export const TARGETS: Record<string, { kind: Kind; max?: number }> = {
  call_id: { kind: 'text', max: 255 },
  parent_call_id: { kind: 'text', max: 255 },
  status: { kind: 'status' },
  sequence: { kind: 'int' },
  caller: { kind: 'phone' },
  tracking_number: { kind: 'phone' },
  campaign: { kind: 'text', max: 255 },
  started_at: { kind: 'epoch' },
  answered_at: { kind: 'epoch' },
  ended_at: { kind: 'epoch' },
  duration_s: { kind: 'seconds' },
  disposition: { kind: 'text', max: 255 },
  revenue: { kind: 'money' },
  payout: { kind: 'money' },
  predicted_value: { kind: 'money' },
  attestation: { kind: 'text', max: 64 },
  event_id: { kind: 'text', max: 255 },
  timestamp: { kind: 'epoch' },
  event_type: { kind: 'event_type' },
  value: { kind: 'money' },
  currency: { kind: 'currency' },
  gclid: { kind: 'text', max: 512 },
  gbraid: { kind: 'text', max: 512 },
  wbraid: { kind: 'text', max: 512 },
  fbclid: { kind: 'text', max: 512 },
  fbc: { kind: 'text', max: 600 },
  fbp: { kind: 'text', max: 600 },
  ttclid: { kind: 'text', max: 512 },
  msclkid: { kind: 'text', max: 512 },
  email: { kind: 'text', max: 512 },
  phone: { kind: 'phone' },
  // kept under ext.call.ext, typed so rules can test them
  converted: { kind: 'bool' },
  duplicate: { kind: 'bool' },
  answered: { kind: 'bool' },
  first_call: { kind: 'bool' },
}
/** Anything not in TARGETS is kept as text under ext.call.ext; 1 KiB is plenty for a label or tag list. */
const EXTRA_MAX = 1024
/** Paths deeper than this are configuration mistakes, not payloads. */
const MAX_DEPTH = 16

/**
 * Words platforms use for call progress → canonical status. A value map in config runs first; this table
 * catches the common vocabulary so most maps need none.
 */
const STATUS_WORDS: Record<string, CallStatus> = {
  queued: 'initiated',
  new: 'initiated',
  start: 'initiated',
  started: 'initiated',
  incoming: 'initiated',
  received: 'initiated',
  ringing: 'ringing',
  routing: 'ringing',
  'in-progress': 'answered',
  in_progress: 'answered',
  inprogress: 'answered',
  connected: 'answered',
  bridged: 'answered',
  answered: 'answered',
  ended: 'completed',
  complete: 'completed',
  finished: 'completed',
  finalized: 'completed',
  hangup: 'completed',
  'no-answer': 'no_answer',
  noanswer: 'no_answer',
  missed: 'no_answer',
  cancelled: 'canceled',
  error: 'failed',
}

export interface MapInput {
  root: unknown
  query: Record<string, string>
  headers: Record<string, string | undefined>
}

export interface MapOptions {
  /** Region for phone numbers without a country code. */
  region: string
}

/** Mapped values by target; `ext` holds targets outside the canonical set. */
export type Mapped = Record<string, string | number | boolean | undefined>

interface Found {
  value: unknown
  /** JSON pointer of where the value came from, for error details. */
  at: string
}

function walk(root: unknown, path: string): Found | undefined {
  const segments = path.split('.')
  if (segments.length > MAX_DEPTH) return undefined
  let cur: unknown = root
  for (const seg of segments) {
    if (Array.isArray(cur) && /^\d{1,6}$/.test(seg)) cur = cur[Number(seg)]
    else if (isObj(cur) && Object.hasOwn(cur, seg)) cur = (cur as Obj)[seg]
    else return undefined
  }
  return { value: cur, at: pointer(...segments) }
}

function lookup(input: MapInput, path: string): Found | undefined {
  const p = path.trim()
  if (p.startsWith('$query.')) {
    const name = p.slice(7)
    return Object.hasOwn(input.query, name)
      ? { value: input.query[name], at: `/$query${pointer(name)}` }
      : undefined
  }
  if (p.startsWith('$header.')) {
    const name = p.slice(8).toLowerCase()
    for (const [k, v] of Object.entries(input.headers))
      if (k.toLowerCase() === name) return { value: v, at: `/$header${pointer(name)}` }
    return undefined
  }
  return walk(input.root, p)
}

const present = (v: unknown) => v !== undefined && v !== null && !(typeof v === 'string' && v.trim() === '')

/** First present value among `a | b | c`; the pointer of the first alternative when none is. */
export function resolvePath(input: MapInput, paths: string): Found {
  const alternatives = paths.split('|')
  for (const alt of alternatives) {
    const hit = lookup(input, alt)
    if (hit && present(hit.value)) return hit
  }
  const first = alternatives[0].trim()
  const at = first.startsWith('$') ? `/${first.replace('.', '/')}` : pointer(...first.split('.'))
  return { value: undefined, at }
}

type Step = { ok: true; value: unknown } | { ok: false; message: string }

function transform(value: unknown, t: Transform, opts: MapOptions): Step {
  if (value === undefined) return { ok: true, value }
  const text = scalarText(value)
  const fail = (message: string): Step => ({ ok: false, message })
  switch (t) {
    case 'string':
      return text === undefined ? fail('expected a string') : { ok: true, value: text }
    case 'trim':
      return text === undefined ? fail('expected a string') : { ok: true, value: text.trim() }
    case 'lower':
      return text === undefined ? fail('expected a string') : { ok: true, value: text.toLowerCase() }
    case 'upper':
      return text === undefined ? fail('expected a string') : { ok: true, value: text.toUpperCase() }
    case 'number':
    case 'integer': {
      const n =
        typeof value === 'number'
          ? value
          : text !== undefined && text.length <= 64
            ? Number(text)
            : Number.NaN
      if (!Number.isFinite(n)) return fail('expected a number')
      if (t === 'integer' && !Number.isInteger(n)) return fail('expected an integer')
      return { ok: true, value: n }
    }
    case 'money': {
      const n = parseMoney(value)
      return n === undefined ? fail('expected an amount') : { ok: true, value: n }
    }
    case 'seconds': {
      const n = parseSeconds(value)
      return n === undefined ? fail('expected seconds') : { ok: true, value: n }
    }
    case 'ms_to_s': {
      const n =
        typeof value === 'number'
          ? value
          : text !== undefined && text.length <= 32
            ? Number(text)
            : Number.NaN
      return Number.isFinite(n) ? { ok: true, value: n / 1000 } : fail('expected milliseconds')
    }
    case 'iso_to_epoch': {
      const n = parseEpochSeconds(value)
      return n === undefined ? fail('expected a date') : { ok: true, value: n }
    }
    case 'phone':
      return { ok: true, value: text === undefined ? undefined : toE164(text.slice(0, 64), opts.region) }
    case 'bool': {
      const b = parseBool(value)
      return b === undefined ? fail('expected a boolean') : { ok: true, value: b }
    }
  }
}

function coerce(value: unknown, kind: Kind, max: number, opts: MapOptions): Step {
  const fail = (message: string): Step => ({ ok: false, message })
  if (value === undefined) return { ok: true, value }
  switch (kind) {
    case 'text': {
      const t = scalarText(value)
      if (t === undefined) return fail('expected a string')
      return t.length > max ? fail(`at most ${max} characters`) : { ok: true, value: t }
    }
    case 'phone': {
      // an unreadable or withheld number is absent, not an error: the call still happened
      const t = scalarText(value)
      return { ok: true, value: t && t.length <= 64 ? toE164(t, opts.region) : undefined }
    }
    case 'epoch': {
      // platforms fill a time they do not have with 0 (Ringba's callConnectionDt on a call never connected):
      // no time, not 1970 — a connect "at" 0 made an unanswered call count as connected
      if (scalarText(value) === '0') return { ok: true, value: undefined }
      const n = parseEpochSeconds(value)
      return n === undefined
        ? fail('expected epoch seconds/ms or an ISO 8601 / RFC 2822 date')
        : { ok: true, value: n }
    }
    case 'seconds': {
      const n = parseSeconds(value)
      return n === undefined || n > 864000 ? fail('expected seconds (0–864000)') : { ok: true, value: n }
    }
    case 'money': {
      const n = parseMoney(value)
      return n === undefined || Math.abs(n) > 1e12 ? fail('expected an amount') : { ok: true, value: n }
    }
    case 'int': {
      const t = scalarText(value)
      return t !== undefined && /^\d{1,9}$/.test(t)
        ? { ok: true, value: Number(t) }
        : fail('expected a non-negative integer')
    }
    case 'bool': {
      const b = parseBool(value)
      return b === undefined ? fail('expected a boolean') : { ok: true, value: b }
    }
    case 'status': {
      const t = scalarText(value)?.toLowerCase()
      if (t === undefined) return fail('expected a string')
      if ((CALL_STATUSES as readonly string[]).includes(t)) return { ok: true, value: t }
      const s = STATUS_WORDS[t]
      return s
        ? { ok: true, value: s }
        : fail(`unknown status "${t.slice(0, 40)}" (map it: expected one of ${CALL_STATUSES.join(', ')})`)
    }
    case 'currency': {
      const t = scalarText(value)
      return t && /^[A-Za-z]{3}$/.test(t)
        ? { ok: true, value: t.toUpperCase() }
        : fail('expected an ISO 4217 code')
    }
    case 'event_type': {
      const t = scalarText(value)?.toLowerCase()
      return t && (EVENT_TYPES as readonly string[]).includes(t)
        ? { ok: true, value: t }
        : fail('expected an ECAPI event type')
    }
  }
}

/** Value map lookup: exact key, then case-insensitive; `null` means "no value". */
function mapValue(value: unknown, table: Record<string, string | number | boolean | null>): unknown {
  const key = scalarText(value)
  if (key === undefined) return value
  if (Object.hasOwn(table, key)) return table[key] ?? undefined
  const lower = key.toLowerCase()
  for (const [k, v] of Object.entries(table)) if (k.toLowerCase() === lower) return v ?? undefined
  return value
}

/**
 * Applies one spec to the input: the target's value, or an `E_INPUT_INVALID` naming the payload field.
 * @example applySpec('duration_s', 'callLengthInSeconds', input, opts) // 135
 */
export function applySpec(
  target: string,
  spec: Exclude<FieldSpec, null>,
  input: MapInput,
  opts: MapOptions,
): string | number | boolean | undefined {
  const s = typeof spec === 'string' ? { path: spec } : spec
  let found: Found = { value: undefined, at: `/${target}` }
  if (s.const !== undefined) found = { value: s.const, at: `/${target}` }
  else if (s.path) found = resolvePath(input, s.path)
  let value: unknown = found.value
  if (!present(value) && s.default !== undefined) value = s.default
  if (Array.isArray(value) && value.length === 1) value = value[0]
  const steps = s.transform === undefined ? [] : Array.isArray(s.transform) ? s.transform : [s.transform]
  for (const t of steps) {
    const r = transform(value, t, opts)
    if (!r.ok) throw invalid(found.at, r.message)
    value = r.value
  }
  if (s.map) value = mapValue(value, s.map)
  if (!present(value)) return undefined
  const def = TARGETS[target] ?? { kind: 'text' as const, max: EXTRA_MAX }
  const r = coerce(value, def.kind, def.max ?? EXTRA_MAX, opts)
  if (!r.ok) throw invalid(found.at, r.message)
  return r.value as string | number | boolean | undefined
}

/** The pointer a target reads from (for "required" errors). */
export function sourcePointer(spec: FieldSpec | undefined, target: string): string {
  if (spec === null || spec === undefined) return `/${target}`
  const path = typeof spec === 'string' ? spec : spec.path
  return path ? resolvePath({ root: undefined, query: {}, headers: {} }, path).at : `/${target}`
}

/** Preset map overlaid by config: config entries win, `null` removes a preset entry. */
export function mergeMaps(base: FieldMap | undefined, over: FieldMap | undefined): FieldMap {
  const out: FieldMap = { ...(base ?? {}) }
  for (const [k, v] of Object.entries(over ?? {})) out[k] = v
  return out
}

/**
 * Applies a whole map; absent values are left out.
 * @example applyFieldMap({ caller: 'from' }, { root: { from: '2125550000' }, query: {}, headers: {} }, { region: 'US' })
 *   // { caller: '+12125550000' }
 */
export function applyFieldMap(map: FieldMap, input: MapInput, opts: MapOptions): Mapped {
  const out: Mapped = {}
  for (const [target, spec] of Object.entries(map)) {
    if (spec === null) continue
    const v = applySpec(target, spec, input, opts)
    if (v !== undefined) out[target] = v
  }
  return out
}
