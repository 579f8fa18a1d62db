/**
 * `webhook`: a JSON POST signed per Standard Webhooks v1 (delivery-reliability.md §1): headers
 * `webhook-id` (stable across retries: the signal id, the receiver's idempotency key), `webhook-timestamp`
 * (this attempt, re-signed each time) and `webhook-signature` = `v1,` + base64(HMAC-SHA256(key,
 * "{id}.{timestamp}.{body}")) with the key base64-decoded from a `whsec_` secret. During rotation several
 * secrets may be configured; each signs, and the header lists every signature.
 *
 * @example
 *   crm-hook: { type: webhook, url: "https://crm.example/hooks/closeloop", secret: "${WEBHOOK_SECRET}" }
 */
import { createHmac } from 'node:crypto'
import { Type as T } from '@sinclair/typebox'
import type { DestinationDefinition } from '../contract.ts'
import { classifyHttp, targetUrl } from '../http.ts'
import { publicSignal } from '../view.ts'

const WebhookConfig = T.Object({
  url: T.String({ pattern: '^https?://' }),
  /** `whsec_<base64 of 24+ random bytes>`; a list during key rotation. Checked by `whsecProblem`. */
  secret: T.Union([
    T.String({ pattern: '^whsec_' }),
    T.Array(T.String({ pattern: '^whsec_' }), { minItems: 1 }),
  ]),
  /** Extra request headers (a receiver's own token); their values are redacted in the attempt log. */
  headers: T.Optional(T.Record(T.String(), T.String())),
  include_pii: T.Optional(T.Boolean({ default: false })),
  /** Event type prefix in the body: `<prefix>.<signal>`. */
  type_prefix: T.Optional(T.String({ default: 'signal' })),
  /** The receiver's test endpoint, used in test mode; the body then says `"test": true`. */
  test_url: T.Optional(T.String({ pattern: '^https?://' })),
})

/** Standard Webhooks keys are 24–64 random bytes; a shorter (or empty) key makes the signature guessable. */
const MIN_KEY_BYTES = 24
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Why a `whsec_` secret is unfit to sign with, or undefined when it is fine. Never quotes the secret.
 * @example whsecProblem('whsec_') // 'must be whsec_ followed by the base64 of at least 24 random bytes (…); got 0 bytes'
 */
export function whsecProblem(secret: string): string | undefined {
  const rule = `must be whsec_ followed by the base64 of at least ${MIN_KEY_BYTES} random bytes (Standard Webhooks)`
  if (!secret.startsWith('whsec_')) return `${rule}; the whsec_ prefix is missing`
  const key = secret.slice('whsec_'.length)
  if (!BASE64.test(key)) return `${rule}; the key is not valid base64`
  const bytes = Buffer.from(key, 'base64').length
  if (bytes < MIN_KEY_BYTES) return `${rule}; got ${bytes} bytes`
  return undefined
}

/**
 * `whsecProblem` for a destination's `secret`, one secret or a rotation list, each message naming its field.
 * @example whsecProblems(['whsec_…ok…', 'whsec_']) // ['secret.1: must be whsec_ followed by …; got 0 bytes']
 */
export function whsecProblems(secret: string | string[] | undefined): string[] {
  if (secret === undefined) return []
  const list = typeof secret === 'string' ? [secret] : secret
  return list.flatMap((s, i) => {
    const problem = whsecProblem(s)
    return problem ? [`secret${typeof secret === 'string' ? '' : `.${i}`}: ${problem}`] : []
  })
}

/** Standard Webhooks symmetric signature over `{id}.{timestamp}.{body}`. */
export function signStandardWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

export const webhookDestination: DestinationDefinition<typeof WebhookConfig> = {
  type: 'webhook',
  configSchema: WebhookConfig,
  // one message per request, as the Standard Webhooks payload shape is one event; 15 s per the spec's 15–30 s
  defaults: { batchSize: 1, concurrency: 8, timeoutMs: 15_000 },
  secrets: ['secret'],
  check: (config) => whsecProblems(config.secret),
  create(_name, config) {
    const whsecs = Array.isArray(config.secret) ? config.secret : [config.secret]
    // a receiver's own credentials travel in custom headers, as a postback network's do
    const secrets = [...whsecs, ...Object.values(config.headers ?? {})]
    return {
      async send(jobs, ctx) {
        // a receiver cannot tell a test from a conversion: test mode goes to test_url or nowhere
        const target = targetUrl(config, ctx, 'WEBHOOK')
        if ('refused' in target) return jobs.map(() => target.refused)
        const { url, test } = target
        const out = []
        for (const { signal } of jobs) {
          const now = ctx.now()
          const timestamp = Math.floor(now / 1000)
          const body = JSON.stringify({
            type: `${config.type_prefix ?? 'signal'}.${signal.name.replace(/[^A-Za-z0-9_]+/g, '_')}`,
            timestamp: new Date(now).toISOString(),
            ...(test ? { test: true } : {}),
            data: publicSignal(signal, config.include_pii === true),
          })
          const id = signal.id
          const res = await ctx.http.request({
            method: 'POST',
            url,
            headers: {
              'content-type': 'application/json',
              'user-agent': 'closeloop/0.1',
              ...(config.headers ?? {}),
              'webhook-id': id,
              'webhook-timestamp': String(timestamp),
              'webhook-signature': whsecs.map((s) => signStandardWebhook(s, id, timestamp, body)).join(' '),
            },
            body,
            timeoutMs: config.timeout_ms ?? 15_000,
            secrets,
          })
          out.push(classifyHttp(res, now))
        }
        return out
      },
    }
  },
}
