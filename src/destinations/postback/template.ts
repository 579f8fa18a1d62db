/**
 * The postback macro engine: `{name}` tokens in a URL or body template, values URL-encoded by default
 * (a caller's `+` must arrive as `%2B`, not as a space — telephony-and-postbacks.md §3.4), `{_name}` for
 * a raw value, and a per-destination status map for networks that want `1/2/3` or `approved/rejected`.
 *
 * @example
 *   render('https://net.example/pb?cid={click_id}&p={payout}', (n) => ({ click_id: 'a b', payout: '12' })[n], 'url')
 *   // 'https://net.example/pb?cid=a%20b&p=12'
 */
import { unique } from '../values.ts'

export type Encoding = 'url' | 'form' | 'json' | 'raw'

/**
 * How a network writes its macros (telephony-and-postbacks.md §3.4): `{x}` (most trackers), `{{x}}`, `[x]`,
 * `[[x]]` (Prosper202, Admitad), `#x#` (CAKE), `%%x%%`. A leading `_` inside asks for the raw value.
 */
export const MACRO_SYNTAXES = {
  braces: ['{', '}'],
  double_braces: ['{{', '}}'],
  brackets: ['[', ']'],
  double_brackets: ['[[', ']]'],
  hashes: ['#', '#'],
  percents: ['%%', '%%'],
} as const
export type MacroSyntax = keyof typeof MACRO_SYNTAXES

const NAME = '[A-Za-z0-9_.:-]+'
const escapeRe = (s: string) => s.replace(/[[\]{}]/g, '\\$&')
const TOKENS = Object.fromEntries(
  Object.entries(MACRO_SYNTAXES).map(([syntax, [open, close]]) => [
    syntax,
    new RegExp(`${escapeRe(open)}(_?)(${NAME})${escapeRe(close)}`, 'g'),
  ]),
) as Record<MacroSyntax, RegExp>

/**
 * Tokens of another syntax than the configured one: rendered as they are, they would reach the network as
 * literal text (or, for `{{x}}` read as braces, as `{value}`) while the network answered 2xx and the
 * conversion counted as delivered. A config check names them.
 *
 * @example foreignMacros('https://p.example/?s=[[subid]]', 'braces') // ['[[subid]]']
 */
export function foreignMacros(template: string, syntax: MacroSyntax): string[] {
  const found: string[] = []
  for (const other of ['double_braces', 'double_brackets', 'hashes', 'percents'] as const) {
    if (other === syntax) continue
    for (const m of template.matchAll(TOKENS[other])) found.push(m[0])
  }
  return unique(found)
}

export class MissingMacroError extends Error {}

export function render(
  template: string,
  lookup: (name: string) => string | undefined,
  encoding: Encoding,
  missing: 'empty' | 'fail' = 'empty',
  syntax: MacroSyntax = 'braces',
): string {
  const [open, close] = MACRO_SYNTAXES[syntax]
  return template.replace(TOKENS[syntax], (_m, raw: string, name: string) => {
    const v = lookup(name)
    if (v === undefined) {
      if (missing === 'fail') throw new MissingMacroError(`macro ${open}${name}${close} has no value`)
      return ''
    }
    if (raw === '_' || encoding === 'raw') return v
    if (encoding === 'json') return JSON.stringify(v).slice(1, -1)
    return encodeURIComponent(v)
  })
}

/** Macros that carry a click id; `{ext.click_ids.<name>}` also does, except for these non-id fields. */
const CLICK_ID_MACROS: ReadonlySet<string> = new Set([
  'click_id',
  'gclid',
  'gbraid',
  'wbraid',
  'fbclid',
  'msclkid',
  'ttclid',
])
/** Captured beside the click ids but not one: when and how, and browser or analytics ids a network cannot match. */
const NOT_CLICK_IDS: ReadonlySet<string> = new Set([
  'clicked_at',
  'attribution',
  'visitor_id',
  'ga',
  '_ga',
  'ga_client_id',
  'fbp',
  'ttp',
])

/**
 * The click-id macros a rendered postback filled with a value, sorted: what the network matches the
 * conversion on. `resolved` holds every macro the templates looked up, with its value;
 * `{ext.click_ids.irclickid}` counts as `irclickid`.
 *
 * @example matchKeysOf({ click_id: 'abc', payout: '12', gclid: undefined }) // ['click_id']
 */
export function matchKeysOf(resolved: Record<string, string | undefined>): string[] {
  const keys = Object.entries(resolved).flatMap(([macro, value]) => {
    if (value === undefined || value.trim() === '') return []
    const nested = macro.startsWith('ext.click_ids.') ? macro.slice('ext.click_ids.'.length) : undefined
    if (nested !== undefined) return nested && !NOT_CLICK_IDS.has(nested) ? [nested] : []
    return CLICK_ID_MACROS.has(macro) ? [macro] : []
  })
  return unique(keys).sort()
}
