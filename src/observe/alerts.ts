/**
 * Alerts sent out when a match rate drops and when it recovers, for teams that watch a chat channel or an
 * incident tool rather than Prometheus: `observe.alerts` lists the receivers, each a Standard-Webhooks-signed
 * JSON POST (`webhook-id` is the alert's id, stable across retries and nodes, so a receiver can dedupe) or a
 * Slack incoming webhook (`format: slack`, a `text` message). Outbound requests go through the same SSRF
 * guard as destinations.
 *
 * Best effort, not a delivery: a receiver gets up to four attempts over about a minute and a half, then a
 * warning is logged; the gauges (`closeloop_match_rate_alert`) stay the durable signal. Each change of a
 * pair's state is sent once, by whichever node records it first in the store (`claim`): several nodes
 * checking the same rates send one alert, and a restarted node does not send again what was sent.
 *
 * @example
 *   const alerts = createAlerts({ targets: config.observe.alerts, http, log, claim })
 *   await alerts.matchRate('dropped', check, { drop: 0.15 })
 */
import { createHash } from 'node:crypto'
import { classifyHttp, type HttpClient } from '../destinations/http.ts'
import { signStandardWebhook } from '../destinations/webhook/index.ts'
import type { Store } from '../store/types.ts'
import type { MatchRateCheck } from './match-rate.ts'

export interface AlertTarget {
  url: string
  format: 'standard_webhooks' | 'slack'
  /** `whsec_` + base64 of 24+ random bytes: required for `standard_webhooks`. */
  secret?: string
  /** The receiver may be on a private or loopback address (tests, an internal incident tool). */
  allow_private?: boolean
}

/** Waits before the 2nd, 3rd and 4th attempt. */
const RETRY_DELAYS_MS = [1_000, 10_000, 60_000]
/**
 * A pair's last sent state is kept this long: longer than a drop lasts. Once it has expired, a recovery is
 * not sent (nothing to recover from), and a node that starts during a drop sends the drop again.
 */
export const ALERT_STATE_TTL_MS = 365 * 24 * 3_600_000
const TIMEOUT_MS = 10_000

export interface Alerts {
  /** Sends (once across nodes) a match-rate alert to every target; resolves when every target is done. */
  matchRate(change: 'dropped' | 'recovered', check: MatchRateCheck, opts: { drop: number }): Promise<void>
}

const pct = (r: number | null) => (r === null ? 'n/a' : `${Math.round(r * 1000) / 10}%`)

export function createAlerts(opts: {
  targets: AlertTarget[]
  /** The outbound client for a receiver: with the SSRF guard unless `allowPrivate`. */
  http: (allowPrivate: boolean) => HttpClient
  log: { warn(obj: object, msg?: string): void }
  /**
   * Records `state` as the last sent for `key`; true when this node is to send it, false when another node
   * (or this one, before a restart) sent it, or a recovery has no drop before it (`claimInStore`).
   */
  claim: (key: string, state: 'dropped' | 'recovered') => Promise<boolean>
  now?: () => number
  retryDelaysMs?: number[]
}): Alerts {
  const now = opts.now ?? Date.now
  const delays = opts.retryDelaysMs ?? RETRY_DELAYS_MS

  async function post(target: AlertTarget, id: string, type: string, data: object, text: string) {
    for (let attempt = 0; ; attempt++) {
      const t = now()
      const body =
        target.format === 'slack'
          ? JSON.stringify({ text })
          : JSON.stringify({ type, timestamp: new Date(t).toISOString(), data })
      const timestamp = Math.floor(t / 1000)
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'closeloop/0.1',
      }
      if (target.format === 'standard_webhooks' && target.secret) {
        headers['webhook-id'] = id
        headers['webhook-timestamp'] = String(timestamp)
        headers['webhook-signature'] = signStandardWebhook(target.secret, id, timestamp, body)
      }
      const res = await opts.http(target.allow_private === true).request({
        method: 'POST',
        url: target.url,
        headers,
        body,
        timeoutMs: TIMEOUT_MS,
        // a Slack webhook's URL is its secret
        secrets: [target.url, ...(target.secret ? [target.secret] : [])],
      })
      // the destinations' rule: network errors, 408, 425, 429 and 5xx are worth another attempt; an SSRF
      // refusal and other answers are final
      const outcome = classifyHttp(res, t)
      if (outcome.kind === 'delivered') return
      const retryable = outcome.kind === 'retry' || outcome.kind === 'throttled'
      if (!retryable || attempt >= delays.length) {
        opts.log.warn(
          { alert: id, status: res.status, error: res.exchange.error, attempts: attempt + 1 },
          'alert not delivered',
        )
        return
      }
      await new Promise((r) => setTimeout(r, delays[attempt]).unref())
    }
  }

  return {
    async matchRate(change, c, { drop }) {
      if (opts.targets.length === 0) return
      if (!(await opts.claim(`alert:match_rate:${JSON.stringify([c.campaign, c.destination])}`, change)))
        return
      // the receiver's idempotency key, the same on every retry of this alert
      const id = `alert_${createHash('sha256')
        .update(JSON.stringify([change, c.campaign, c.destination, now()]))
        .digest('hex')
        .slice(0, 32)}`
      const type = `alert.match_rate_${change}`
      const data = {
        campaign: c.campaign,
        destination: c.destination,
        current: c.current,
        baseline: c.baseline,
        drop,
      }
      // names come from events (a campaign is client input): Slack reads <…> as links and mentions
      const where = slackText(`${c.destination} · ${c.campaign ?? '(no campaign)'}`)
      const text =
        change === 'dropped'
          ? `closeloop: the match rate of ${where} dropped to ${pct(c.current.rate)} (baseline ${pct(c.baseline.rate)}, ${c.current.reported} conversions in the current window): conversions are reaching the platform without click ids or consented PII`
          : `closeloop: the match rate of ${where} recovered (${pct(c.current.rate)}, baseline ${pct(c.baseline.rate)})`
      await Promise.all(opts.targets.map((target) => post(target, id, type, data, text)))
    },
  }
}

/**
 * `claim` on the store's facts: the last state sent per pair, read and written under the key's lock
 * (`updateFacts`), so of several nodes recording the same change only the first sends it. A recovery is
 * sent only after a drop was: a pair that never alerted (or whose drop was sent over a year ago) has
 * nothing to recover from.
 */
export function claimInStore(store: Pick<Store, 'updateFacts'>, now: () => number = Date.now) {
  return (key: string, state: 'dropped' | 'recovered'): Promise<boolean> =>
    store.updateFacts(
      [key],
      (facts) => {
        const sent = facts[key]
        const send = state === 'recovered' ? sent === 'dropped' : sent !== state
        return send
          ? { writes: { [key]: { value: state, ttlMs: ALERT_STATE_TTL_MS } }, result: true }
          : { writes: {}, result: false }
      },
      now(),
    )
}

/**
 * Text safe in a Slack message: `&`, `<` and `>` escaped as Slack's formatting rules ask, so a campaign
 * named `<!channel> <https://evil.example|…>` is shown, not a mention of everyone and a disguised link.
 *
 * @example slackText('<!channel>') // '&lt;!channel&gt;'
 */
export function slackText(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}
