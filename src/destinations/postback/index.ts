/**
 * `postback`: affiliate-network and tracker postbacks. A URL template with `{macro}` tokens, sent as GET or
 * POST (query, form or JSON body), custom headers, optional HMAC-SHA256 signature header, and a success rule
 * that can read the body (TUNE answers 200 with `success=false;`). Corrections go out as a status change
 * through `status_map`.
 *
 * @example
 *   affiliate: { type: postback, method: GET,
 *     url: "https://net.example/pb?clickid={click_id}&payout={payout}&status={status}",
 *     status_map: { "disposition:Sale": approved, correction: rejected } }
 */
import { createHmac } from 'node:crypto'
import { Type as T } from '@sinclair/typebox'
import type { Outcome, Signal } from '../../model/signal.ts'
import type { DestinationDefinition } from '../contract.ts'
import { classifyHttp, redactSecrets, targetUrl } from '../http.ts'
import { macroValue, macroValues } from '../view.ts'
import {
  type Encoding,
  foreignMacros,
  MACRO_SYNTAXES,
  type MacroSyntax,
  MissingMacroError,
  matchKeysOf,
  render,
} from './template.ts'

const PostbackConfig = T.Object({
  url: T.String({ pattern: '^https?://' }),
  /**
   * The network's test endpoint (a template like `url`), used in test mode (`closeloop send-test`,
   * `test_mode: true`). A postback has no test flag: without it test mode sends nothing, or a test would
   * count as a real conversion, and pay out.
   */
  test_url: T.Optional(T.String({ pattern: '^https?://' })),
  method: T.Union([T.Literal('GET'), T.Literal('POST')], { default: 'GET' }),
  /** POST body: a template in the chosen encoding; default none (parameters in the URL). */
  body: T.Optional(T.Union([T.String(), T.Record(T.String(), T.String())])),
  body_type: T.Union([T.Literal('form'), T.Literal('json')], { default: 'form' }),
  /** Extra request headers; their values are treated as credentials (redacted in the attempt log). */
  headers: T.Optional(T.Record(T.String(), T.String())),
  /** Query parameters of `url` whose values are credentials (`key`, `token`): redacted in the attempt log. */
  secret_params: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 128 }), { maxItems: 32 })),
  /** Signal name (or glob-free name) → the status value this network expects. */
  status_map: T.Optional(T.Record(T.String(), T.String())),
  missing: T.Union([T.Literal('empty'), T.Literal('fail')], { default: 'empty' }),
  /** How this network writes macros: `{x}` (default), `{{x}}`, `[x]`, `[[x]]`, `#x#`, `%%x%%` (template.ts). */
  macro_syntax: T.Union(
    Object.keys(MACRO_SYNTAXES).map((k) => T.Literal(k as MacroSyntax)),
    { default: 'braces' },
  ),
  signature: T.Optional(
    T.Object({
      secret: T.String({ minLength: 8 }),
      header: T.String({ default: 'X-Closeloop-Signature' }),
    }),
  ),
  success: T.Optional(
    T.Object({
      status_min: T.Integer({ default: 200 }),
      status_max: T.Integer({ default: 299 }),
      /** The body must match (regex), e.g. `success=true`. */
      body_matches: T.Optional(T.String()),
      /** The body must not match (regex), e.g. `success=false`. */
      body_not_matches: T.Optional(T.String()),
    }),
  ),
})

export const postbackDestination: DestinationDefinition<typeof PostbackConfig> = {
  type: 'postback',
  configSchema: PostbackConfig,
  // one conversion per request is the postback convention; 30 s is what affiliate receivers expect
  defaults: { batchSize: 1, concurrency: 8, timeoutMs: 30_000 },
  // nested (signature.secret, header values, query parameters): passed per request below instead
  secrets: [],
  check(config) {
    const syntax = config.macro_syntax ?? 'braces'
    const templates: [string, string][] = [['url', config.url]]
    if (config.test_url) templates.push(['test_url', config.test_url])
    if (typeof config.body === 'string') templates.push(['body', config.body])
    else for (const [k, v] of Object.entries(config.body ?? {})) templates.push([`body.${k}`, v])
    return templates.flatMap(([field, t]) => {
      const foreign = foreignMacros(t, syntax)
      return foreign.length
        ? [
            `${field}: ${foreign.join(', ')} is not a macro in macro_syntax ${syntax}; set macro_syntax to the network's`,
          ]
        : []
    })
  },
  create(_name, config) {
    const success = config.success
    const okBody = success?.body_matches ? new RegExp(success.body_matches) : undefined
    const badBody = success?.body_not_matches ? new RegExp(success.body_not_matches) : undefined
    // a network's own credentials travel in custom headers (X-Network-Token) and the URL (key=…)
    const secrets = [
      ...(config.signature ? [config.signature.secret] : []),
      ...Object.values(config.headers ?? {}),
    ]

    /**
     * The status a network expects: by signal name, then disposition. A correction is looked up as
     * `correction:retract` / `correction:restate` first: a network rejects a retraction and adjusts a
     * restatement, and one `correction` entry told it a changed amount was a rejection.
     */
    function statusFor(signal: Signal, disposition: string | undefined): string | undefined {
      const map = config.status_map ?? {}
      const adjustment = signal.name === 'correction' ? signal.attrs.adjustment : undefined
      return (
        (typeof adjustment === 'string' ? map[`correction:${adjustment}`] : undefined) ??
        map[signal.name] ??
        (disposition ? map[disposition] : undefined) ??
        disposition ??
        signal.name
      )
    }

    return {
      async send(jobs, ctx) {
        const target = targetUrl(config, ctx, 'POSTBACK')
        if ('refused' in target) return jobs.map(() => target.refused)
        const urlTemplate = target.url
        const outcomes: Outcome[] = []
        for (const { signal, delivery } of jobs) {
          const values = macroValues(signal, { delivery_id: delivery.id })
          values.status = statusFor(signal, values.disposition)
          // every macro the templates use, with its value: the click ids among them are the match keys
          const resolved: Record<string, string | undefined> = {}
          const lookup = (n: string) => {
            resolved[n] = macroValue(signal, values, n)
            return resolved[n]
          }
          let url: string
          let body: string | undefined
          const headers: Record<string, string> = { 'user-agent': 'closeloop/0.1', ...(config.headers ?? {}) }
          try {
            url = render(urlTemplate, lookup, 'url', config.missing, config.macro_syntax)
            if (config.method === 'POST' && config.body !== undefined) {
              const enc: Encoding = config.body_type === 'json' ? 'json' : 'form'
              if (typeof config.body === 'string')
                body = render(config.body, lookup, enc, config.missing, config.macro_syntax)
              else if (enc === 'json')
                body = JSON.stringify(
                  Object.fromEntries(
                    Object.entries(config.body).map(([k, v]) => [
                      k,
                      render(v, lookup, 'raw', config.missing, config.macro_syntax),
                    ]),
                  ),
                )
              else
                body = new URLSearchParams(
                  Object.entries(config.body).map(([k, v]) => [
                    k,
                    render(v, lookup, 'raw', config.missing, config.macro_syntax),
                  ]),
                ).toString()
              headers['content-type'] =
                enc === 'json' ? 'application/json' : 'application/x-www-form-urlencoded'
            }
          } catch (err) {
            if (!(err instanceof MissingMacroError)) throw err
            outcomes.push({ kind: 'permanent', code: 'E_MACRO_MISSING', message: err.message })
            continue
          }
          if (config.signature) {
            const signed = body ?? url
            headers[config.signature.header] = createHmac('sha256', config.signature.secret)
              .update(signed)
              .digest('hex')
          }
          const requestSecrets = [...secrets, ...queryValues(url, config.secret_params)]
          const res = await ctx.http.request({
            method: config.method,
            url,
            headers,
            body,
            timeoutMs: config.timeout_ms ?? 30_000,
            secrets: requestSecrets,
          })
          outcomes.push({ ...judge(res, ctx.now(), requestSecrets), matchKeys: matchKeysOf(resolved) })
        }
        return outcomes

        function judge(
          res: Awaited<ReturnType<typeof ctx.http.request>>,
          now: number,
          requestSecrets: string[],
        ): Outcome {
          const base = classifyHttp(res, now)
          if (res.status === undefined) return base
          const inRange =
            res.status >= (success?.status_min ?? 200) && res.status <= (success?.status_max ?? 299)
          if (!inRange) return base.kind === 'delivered' ? { ...base, kind: 'permanent' } : base
          if ((okBody && !okBody.test(res.body)) || badBody?.test(res.body))
            return {
              kind: 'permanent',
              exchange: res.exchange,
              code: 'E_POSTBACK_REJECTED',
              // the body may echo the URL, key included: redacted as the exchange is
              message: `receiver answered ${res.status} but the body says it failed: ${redactSecrets(res.body, requestSecrets).slice(0, 200)}`,
            }
          return { kind: 'delivered', exchange: res.exchange, code: `HTTP_${res.status}` }
        }
      },
    }
  },
}

const decodeQuery = (s: string) => {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

/**
 * The values of the named query parameters, as written in the URL and decoded, for redaction.
 * @example queryValues('https://net.example/pb?cid=1&key=a%2Fb', ['key']) // ['a%2Fb', 'a/b']
 */
export function queryValues(url: string, names: readonly string[] = []): string[] {
  const q = url.indexOf('?')
  if (names.length === 0 || q < 0) return []
  const query = url.slice(q + 1).split('#')[0]
  const out: string[] = []
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=')
    if (eq < 0 || !names.includes(decodeQuery(pair.slice(0, eq)))) continue
    const raw = pair.slice(eq + 1)
    out.push(raw, decodeQuery(raw))
  }
  return out
}
