/**
 * Routes: which destinations receive which signals. A route names signals with `*` globs and may add
 * conditions that must all hold (`value > 0`, `source == phone_call`, `ext.call.campaign != test`).
 * Compiled once at config load; matching is a pure function of the signal.
 *
 * @example
 *   const { routes } = compileRoutes([{ signals: ['disposition:*'], to: ['affiliate'], when: 'value > 0' }])
 *   destinationsFor(routes, signal) // ['affiliate']
 */
import type { Signal } from '../model/signal.ts'

export interface Route {
  signals: RegExp[]
  to: string[]
  conditions: Condition[]
}

interface Condition {
  field: string
  op: '==' | '!=' | '>' | '>=' | '<' | '<='
  literal: string | number | boolean | null
}

export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
  return new RegExp(`^${escaped}$`)
}

const CONDITION = /^\s*([A-Za-z_][\w.:]*)\s*(==|!=|>=|<=|>|<)\s*(.+?)\s*$/

export function compileRoutes(input: Array<{ signals: string[]; to: string[]; when?: string | string[] }>): {
  routes: Route[]
  errors: string[]
} {
  const errors: string[] = []
  const routes = input.map((r, i) => {
    const whens = r.when === undefined ? [] : Array.isArray(r.when) ? r.when : r.when.split(/\s+and\s+/i)
    const conditions: Condition[] = []
    whens.forEach((w, j) => {
      const m = CONDITION.exec(w)
      if (!m) {
        errors.push(
          `routes.${i}.when${Array.isArray(r.when) ? `.${j}` : ''}: cannot read "${w}" (expected e.g. "value > 0")`,
        )
        return
      }
      conditions.push({ field: m[1], op: m[2] as Condition['op'], literal: parseLiteral(m[3]) })
    })
    return { signals: r.signals.map(globToRegExp), to: r.to, conditions }
  })
  return { routes, errors }
}

function parseLiteral(text: string): Condition['literal'] {
  if (/^(['"]).*\1$/.test(text)) return text.slice(1, -1)
  if (text === 'true' || text === 'false') return text === 'true'
  if (text === 'null') return null
  const n = Number(text)
  return Number.isFinite(n) ? n : text
}

/** The value a condition field names: signal fields first, then a dotted path into the event. */
function fieldValue(signal: Signal, field: string): unknown {
  switch (field) {
    case 'signal':
    case 'name':
      return signal.name
    case 'value':
      return signal.value ?? null
    case 'currency':
      return signal.currency ?? null
    case 'data_set_id':
      return signal.dataSetId
    case 'campaign':
      return signal.event.ext?.call?.campaign ?? null
    case 'disposition':
      return signal.event.ext?.call?.disposition ?? null
  }
  let cur: unknown = signal.attrs[field] !== undefined ? signal.attrs : signal.event
  for (const part of field.split('.')) {
    if (cur === null || typeof cur !== 'object') return null
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur ?? null
}

function holds(c: Condition, signal: Signal): boolean {
  const v = fieldValue(signal, c.field)
  const lit = c.literal
  switch (c.op) {
    case '==':
      return v === lit || (v !== null && lit !== null && String(v) === String(lit))
    case '!=':
      return !(v === lit || (v !== null && lit !== null && String(v) === String(lit)))
    default: {
      const a = typeof v === 'number' ? v : Number(v)
      const b = typeof lit === 'number' ? lit : Number(lit)
      if (v === null || !Number.isFinite(a) || !Number.isFinite(b)) return false
      return c.op === '>' ? a > b : c.op === '>=' ? a >= b : c.op === '<' ? a < b : a <= b
    }
  }
}

/** Destinations a signal goes to, each once, in route order. */
export function destinationsFor(routes: Route[], signal: Signal): string[] {
  const out: string[] = []
  for (const r of routes) {
    if (!r.signals.some((re) => re.test(signal.name))) continue
    if (!r.conditions.every((c) => holds(c, signal))) continue
    for (const d of r.to) if (!out.includes(d)) out.push(d)
  }
  return out
}
