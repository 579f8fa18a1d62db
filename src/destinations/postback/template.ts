/**
 * The postback macro engine: `{name}` tokens in a URL or body template, values URL-encoded by default
 * (a caller's `+` must arrive as `%2B`, not as a space — telephony-and-postbacks.md §3.4), `{_name}` for
 * a raw value, and a per-destination status map for networks that want `1/2/3` or `approved/rejected`.
 *
 * @example
 *   render('https://net.example/pb?cid={click_id}&p={payout}', (n) => ({ click_id: 'a b', payout: '12' })[n], 'url')
 *   // 'https://net.example/pb?cid=a%20b&p=12'
 */

export type Encoding = 'url' | 'form' | 'json' | 'raw'

const TOKEN = /\{(_?)([A-Za-z0-9_.:-]+)\}/g

export class MissingMacroError extends Error {}

export function render(
  template: string,
  lookup: (name: string) => string | undefined,
  encoding: Encoding,
  missing: 'empty' | 'fail' = 'empty',
): string {
  return template.replace(TOKEN, (_m, raw: string, name: string) => {
    const v = lookup(name)
    if (v === undefined) {
      if (missing === 'fail') throw new MissingMacroError(`macro {${name}} has no value`)
      return ''
    }
    if (raw === '_' || encoding === 'raw') return v
    if (encoding === 'json') return JSON.stringify(v).slice(1, -1)
    return encodeURIComponent(v)
  })
}
