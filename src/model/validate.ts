/**
 * Schema validation with precise, stable error details: every problem names the JSON pointer of the
 * field and what was expected. Compiled once per schema (TypeBox's compiler is ~50× faster than the
 * interpreter on ECAPI events, which matters on the ingest hot path).
 *
 * @example
 *   const check = validator(EcapiEvent)
 *   check({ data_set_id: 'a' }) // [{ path: '/timestamp', message: 'required' }, …]
 */
import { isIP } from 'node:net'
import { FormatRegistry, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors'
import type { ErrorDetail } from './errors.ts'

if (!FormatRegistry.Has('ip')) FormatRegistry.Set('ip', (v) => isIP(v) !== 0)

/** At most this many details per input: enough to fix it, bounded for hostile input. */
const MAX_DETAILS = 20

export function validator(schema: TSchema): (value: unknown) => ErrorDetail[] {
  const compiled = TypeCompiler.Compile(schema)
  return function validate(value) {
    if (compiled.Check(value)) return []
    const out: ErrorDetail[] = []
    const seen = new Set<string>()
    for (const err of compiled.Errors(value)) {
      // a union reports one error per branch; the first is the most useful, later ones repeat the path
      if (seen.has(err.path)) continue
      seen.add(err.path)
      out.push({ path: err.path || '/', message: describe(err) })
      if (out.length >= MAX_DETAILS) break
    }
    return out
  }
}

function describe(err: ValueError): string {
  const s = err.schema as Record<string, unknown> & { anyOf?: Array<{ const?: unknown }> }
  switch (err.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'required'
    case ValueErrorType.ObjectAdditionalProperties:
      return 'unknown field'
    case ValueErrorType.Union:
      if (s.anyOf?.every((b) => b.const !== undefined)) {
        const values = s.anyOf.map((b) => String(b.const))
        return `must be one of: ${values.slice(0, 12).join(', ')}${values.length > 12 ? ', …' : ''}`
      }
      return 'does not match any allowed shape'
    case ValueErrorType.String:
      return 'expected a string'
    case ValueErrorType.Number:
      return 'expected a number'
    case ValueErrorType.Integer:
      return 'expected an integer'
    case ValueErrorType.Boolean:
      return 'expected true or false'
    case ValueErrorType.Object:
      return 'expected an object'
    case ValueErrorType.Array:
      return 'expected an array'
    case ValueErrorType.StringFormat:
      return `expected a valid ${String(s.format)}`
    case ValueErrorType.StringPattern:
      return `does not match the expected format ${String(s.pattern)}`
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? 'must not be empty' : `must be at least ${String(s.minLength)} characters`
    case ValueErrorType.StringMaxLength:
      return `must be at most ${String(s.maxLength)} characters`
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `must be ≥ ${String(s.minimum)}`
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `must be ≤ ${String(s.maximum)}`
    case ValueErrorType.ArrayMaxItems:
      return `at most ${String(s.maxItems)} items`
    case ValueErrorType.ArrayMinItems:
      return `at least ${String(s.minItems)} item(s)`
    case ValueErrorType.Literal:
      return `must be ${JSON.stringify(s.const)}`
    default:
      return err.message
  }
}

/** `/destinations/meta/pixel_id` → `destinations.meta.pixel_id` (how config errors are printed). */
export const pointerToDotted = (pointer: string, prefix = ''): string => {
  const parts = pointer
    .split('/')
    .filter(Boolean)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  return [prefix, ...parts].filter(Boolean).join('.') || '(root)'
}
