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
import { classifyHttp } from '../http.ts'
import { publicSignal } from '../view.ts'

const WebhookConfig = T.Object({
  url: T.String({ pattern: '^https?://' }),
  /** `whsec_<base64>`; a list during key rotation. */
  secret: T.Union([
    T.String({ pattern: '^whsec_' }),
    T.Array(T.String({ pattern: '^whsec_' }), { minItems: 1 }),
  ]),
  headers: T.Optional(T.Record(T.String(), T.String())),
  include_pii: T.Optional(T.Boolean({ default: false })),
  /** Event type prefix in the body: `<prefix>.<signal>`. */
  type_prefix: T.Optional(T.String({ default: 'signal' })),
})

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
  create(_name, config) {
    const secrets = Array.isArray(config.secret) ? config.secret : [config.secret]
    return {
      async send(jobs, ctx) {
        const out = []
        for (const { signal } of jobs) {
          const now = ctx.now()
          const timestamp = Math.floor(now / 1000)
          const body = JSON.stringify({
            type: `${config.type_prefix ?? 'signal'}.${signal.name.replace(/[^A-Za-z0-9_]+/g, '_')}`,
            timestamp: new Date(now).toISOString(),
            data: publicSignal(signal, config.include_pii === true),
          })
          const id = signal.id
          const res = await ctx.http.request({
            method: 'POST',
            url: config.url,
            headers: {
              'content-type': 'application/json',
              'user-agent': 'closeloop/0.1',
              ...(config.headers ?? {}),
              'webhook-id': id,
              'webhook-timestamp': String(timestamp),
              'webhook-signature': secrets.map((s) => signStandardWebhook(s, id, timestamp, body)).join(' '),
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
