/**
 * Signal name → platform event, the way every destination's `events` (or `conversions`) map reads: an exact
 * key first, then the `*` globs in the order written, then the destination's defaults, then whatever the
 * destination derives from the event itself. Each destination keeps its own defaults and fallback.
 *
 * @example
 *   matchSignal({ qualified_call: 'Lead', 'disposition:*': 'Purchase' }, 'disposition:Sale') // 'Purchase'
 *   resolveSignal('call_connected', { call_connected: '' }, { call_connected: 'Contact' })    // undefined
 */
import type { Signal } from '../model/signal.ts'
import { globToRegExp } from '../pipeline/route.ts'

/**
 * The value a configured map gives a signal name: the exact key wins, then the first matching glob in the
 * order written. Values are returned as written (`""` included); undefined when nothing matches.
 *
 * @example matchSignal({ qualified_call: '1', 'disposition:*': '2', '*': '3' }, 'disposition:Sale') // '2'
 */
export function matchSignal(map: Readonly<Record<string, string>>, name: string): string | undefined {
  if (Object.hasOwn(map, name)) return map[name]
  for (const [glob, value] of Object.entries(map))
    if (glob.includes('*') && globToRegExp(glob).test(name)) return value
  return undefined
}

/**
 * The platform event for a signal name: the configured map (`matchSignal`; `""` there means "never send",
 * i.e. undefined, and stops the search), then `defaults` (exact names only), then `fallback()`.
 *
 * @example
 *   resolveSignal('disposition:Policy Bound', { 'disposition:*': 'Purchase' }, {}) // 'Purchase'
 *   resolveSignal('purchase', {}, {}, () => 'purchase')                           // 'purchase'
 */
export function resolveSignal(
  name: string,
  configured: Readonly<Record<string, string>>,
  defaults: Readonly<Record<string, string>>,
  fallback?: () => string | undefined,
): string | undefined {
  const set = matchSignal(configured, name)
  if (set !== undefined) return set === '' ? undefined : set
  if (Object.hasOwn(defaults, name)) return defaults[name]
  return fallback?.()
}

/**
 * The `custom_event` of a plain ECAPI custom event, when the signal is named after it (`custom:<name>`, as
 * pipeline/signal.ts names it); undefined otherwise.
 *
 * @example ecapiCustomName({ name: 'custom:policy_bound', event: { event_type: 'custom', custom_event: 'policy_bound' } }) // 'policy_bound'
 */
export function ecapiCustomName(signal: Pick<Signal, 'name' | 'event'>): string | undefined {
  const custom = signal.event.custom_event
  return signal.event.event_type === 'custom' && custom && signal.name === `custom:${custom}`
    ? custom
    : undefined
}
