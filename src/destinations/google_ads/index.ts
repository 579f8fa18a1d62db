/**
 * `google_ads`: conversions through the Google Ads API `ConversionUploadService` (click conversions, enhanced
 * conversions for leads, call conversions) and `ConversionAdjustmentUploadService` (retractions and
 * restatements for `correction` signals). For developer tokens already allowlisted for offline conversion
 * import; new deployments should prefer `google_data_manager` (reference google.md §1).
 *
 * Requests use `partialFailure: true` and each row's result is read by index. Idempotency: `orderId` =
 * signal id, so a re-sent row answers `ORDER_ID_ALREADY_IN_USE` / `*_ALREADY_EXISTS`, which counts as
 * delivered. `TOO_RECENT_*` rows wait a fixed 6 h. See docs/destinations/google_ads.md.
 *
 * @example
 *   destinations:
 *     google-ads:
 *       type: google_ads
 *       customer_id: "123-456-7890"
 *       login_customer_id: "999-888-7777"
 *       developer_token: ${GOOGLE_ADS_DEVELOPER_TOKEN}
 *       credentials: ${GOOGLE_CREDENTIALS_FILE}
 *       time_zone: America/New_York
 *       conversions: { qualified_call: "111", "disposition:*": "222", correction: "222" }
 */
import { type Static, Type as T } from '@sinclair/typebox'
import type { Outcome } from '../../model/signal.ts'
import { validTimeZone } from '../../model/time-zone.ts'
import type { DestinationContext, DestinationDefinition, DestinationJob } from '../contract.ts'
import { digitsOnly, parseRpcError } from '../google/common.ts'
import {
  ADS_SCOPE,
  createTokenProvider,
  GOOGLE_CREDENTIAL_SECRETS,
  GoogleCredentialFields,
  googleCredentialProblems,
  loadGoogleCredentials,
  type TokenProvider,
} from '../google/oauth.ts'
import { classifyHttp, type HttpResponse, parseRetryAfter } from '../http.ts'
import { type AdsErrorClass, adsErrors, adsRequestId, classifyAdsError, rowClasses } from './errors.ts'
import {
  ADS_MAX_ROWS,
  ADS_METHODS,
  type AdsEndpoint,
  type AdsSettings,
  buildAdsRow,
  matchKeysOf,
  uploadBody,
} from './payload.ts'

export const GOOGLE_ADS_BASE_URL = 'https://googleads.googleapis.com'
/** The API version of the protos in the installed `google-ads-node` (the ones the tests check against). */
export const GOOGLE_ADS_API_VERSION = 'v24'

const CustomerId = T.String({ pattern: '^[0-9]{3}-?[0-9]{3}-?[0-9]{4}$' })

export const GoogleAdsConfig = T.Object({
  ...GoogleCredentialFields,
  /** Google Ads API developer token (a secret: never logged, never in payloads). */
  developer_token: T.String({ minLength: 1 }),
  /** The conversion-owning customer (the one in the URL). */
  customer_id: CustomerId,
  /** Manager (MCC) account the credential acts through; sent as `login-customer-id`. */
  login_customer_id: T.Optional(CustomerId),
  /** Sent as `linked-customer-id` for linked-account access. */
  linked_customer_id: T.Optional(CustomerId),
  /** `v24`… ; defaults to the version the tests are checked against. */
  api_version: T.Optional(T.String({ pattern: '^v[0-9]+$' })),
  /** Signal name or glob → conversion action id, or a full `customers/…/conversionActions/…` resource name. */
  conversions: T.Optional(T.Record(T.String({ minLength: 1 }), T.String({ minLength: 1 }))),
  destination_id: T.Optional(T.String({ minLength: 1 })),
  /** IANA time zone of the Google Ads account; conversion date-times are written in it. */
  time_zone: T.Optional(T.String({ minLength: 1 })),
  default_region: T.Optional(T.String({ pattern: '^[A-Z]{2}$' })),
})
export type GoogleAdsConfig = Static<typeof GoogleAdsConfig>

/** @example adsSettings({ customer_id: '123-456-7890', … }).customerId // '1234567890' */
export function adsSettings(config: GoogleAdsConfig): AdsSettings {
  const timeZone = config.time_zone ?? 'UTC'
  // Fail at startup on a time zone Intl does not know, not on the first conversion.
  new Intl.DateTimeFormat('en-US', { timeZone })
  const settings: AdsSettings = {
    customerId: digitsOnly(config.customer_id),
    conversions: config.conversions ?? {},
    timeZone,
    defaultRegion: config.default_region ?? 'US',
  }
  if (config.destination_id) settings.defaultConversion = config.destination_id
  return settings
}

const ROW_FIELD: Record<AdsEndpoint, string> = {
  click: 'conversions',
  call: 'conversions',
  adjustment: 'conversion_adjustments',
}

interface Group {
  endpoint: AdsEndpoint
  rows: unknown[]
  jobs: number[]
}

const toOutcome = (c: AdsErrorClass, res: HttpResponse, requestId?: string): Outcome => ({
  kind: c.kind,
  exchange: res.exchange,
  code: c.code,
  message: requestId ? `${c.message} (requestId ${requestId})` : c.message,
  ...(c.fixedDelayMs ? { fixedDelayMs: c.fixedDelayMs } : {}),
})

export const googleAdsDestination: DestinationDefinition<typeof GoogleAdsConfig> = {
  type: 'google_ads',
  audience: 'google',
  configSchema: GoogleAdsConfig,
  defaults: {
    // Segment's default; below Google's 2,000 cap so a batch of long rows stays a modest request.
    batchSize: 1500,
    // Ads API quotas are per developer token (Basic: 15,000 ops/day); 2 in flight keeps bursts polite.
    concurrency: 2,
    // Upload calls answer in ~1–3 s at p99; 30 s covers a full batch without hiding an outage.
    timeoutMs: 30_000,
  },
  secrets: [...GOOGLE_CREDENTIAL_SECRETS, 'developer_token'],
  check: (config) => [
    ...googleCredentialProblems(config),
    ...(config.time_zone && !validTimeZone(config.time_zone)
      ? [`time_zone: unknown IANA time zone "${config.time_zone}"`]
      : []),
  ],
  create(_name, config) {
    const settings = adsSettings(config)
    const tokens: TokenProvider = createTokenProvider(loadGoogleCredentials(config), { scope: ADS_SCOPE })
    const version = config.api_version ?? GOOGLE_ADS_API_VERSION
    const base = `${(config.base_url ?? GOOGLE_ADS_BASE_URL).replace(/\/+$/, '')}/${version}/customers/${settings.customerId}`
    const timeoutMs = config.timeout_ms ?? googleAdsDestination.defaults.timeoutMs
    const fixedHeaders: Record<string, string> = {
      'developer-token': config.developer_token,
      'content-type': 'application/json',
      accept: 'application/json',
    }
    if (config.login_customer_id) fixedHeaders['login-customer-id'] = digitsOnly(config.login_customer_id)
    if (config.linked_customer_id) fixedHeaders['linked-customer-id'] = digitsOnly(config.linked_customer_id)

    /** POST with a bearer token; on a plain 401 (expired / invalid token) refresh once and repeat. */
    async function post(
      ctx: DestinationContext,
      endpoint: AdsEndpoint,
      body: string,
    ): Promise<HttpResponse | Outcome> {
      for (let attempt = 0; ; attempt++) {
        const got = await tokens.get(ctx)
        if ('outcome' in got) return got.outcome
        const res = await ctx.http.request({
          method: 'POST',
          url: `${base}:${ADS_METHODS[endpoint]}`,
          headers: { ...fixedHeaders, authorization: `Bearer ${got.token}` },
          body,
          timeoutMs,
          secrets: [got.token, config.developer_token],
        })
        const fatal401 = adsErrors(parseRpcError(res.body)).some((e) =>
          ['TWO_STEP_VERIFICATION_NOT_ENROLLED', 'CUSTOMER_NOT_FOUND', 'DEVELOPER_TOKEN_INVALID'].includes(
            Object.values(e.errorCode ?? {})[0] ?? '',
          ),
        )
        if (res.status === 401 && attempt === 0 && !fatal401) {
          tokens.invalidate(got.token)
          continue
        }
        return res
      }
    }

    async function sendGroup(group: Group, ctx: DestinationContext, outcomes: Outcome[]): Promise<void> {
      const sent = await post(
        ctx,
        group.endpoint,
        JSON.stringify(uploadBody(group.endpoint, group.rows, ctx.testMode)),
      )
      if ('kind' in sent) {
        for (const j of group.jobs) outcomes[j] = sent
        return
      }
      const res = sent
      const status = res.status
      if (status === 200) {
        let body: {
          results?: Record<string, unknown>[]
          partialFailureError?: ReturnType<typeof parseRpcError>
        } = {}
        try {
          body = JSON.parse(res.body) as typeof body
        } catch {}
        const requestId = adsRequestId(body.partialFailureError) ?? res.headers['request-id']
        const classes = rowClasses(group.rows.length, body, ROW_FIELD[group.endpoint], ctx.testMode)
        group.jobs.forEach((j, i) => {
          const c = classes[i]
          outcomes[j] = c
            ? toOutcome(c, res, requestId)
            : {
                kind: 'delivered',
                exchange: res.exchange,
                code: ctx.testMode ? 'GOOGLE_ADS_VALIDATED' : 'GOOGLE_ADS_UPLOADED',
                ...(requestId ? { message: `requestId ${requestId}` } : {}),
              }
        })
        return
      }
      if (status === undefined) {
        const generic = classifyHttp(res, ctx.now())
        for (const j of group.jobs) outcomes[j] = generic
        return
      }
      // RPC-level failure: the request as a whole (auth, quota, malformed), possibly with per-row errors.
      const rpc = parseRpcError(res.body)
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], ctx.now())
      const requestId = adsRequestId(rpc) ?? res.headers['request-id']
      const errors = adsErrors(rpc)
      const byStatus: AdsErrorClass =
        status === 429 || rpc?.status === 'RESOURCE_EXHAUSTED'
          ? {
              kind: 'throttled',
              code: 'GOOGLE_ADS_RESOURCE_EXHAUSTED',
              message: rpc?.message ?? 'quota exhausted',
            }
          : status === 401 || status === 403
            ? {
                kind: 'paused',
                code: `GOOGLE_ADS_${rpc?.status ?? `HTTP_${status}`}`,
                message: rpc?.message ?? `HTTP ${status}`,
              }
            : status >= 500
              ? {
                  kind: 'retry',
                  code: `GOOGLE_ADS_${rpc?.status ?? `HTTP_${status}`}`,
                  message: rpc?.message ?? `HTTP ${status}`,
                }
              : {
                  kind: 'permanent',
                  code: `GOOGLE_ADS_${rpc?.status ?? `HTTP_${status}`}`,
                  message: rpc?.message ?? `HTTP ${status}`,
                }
      // A specific Google Ads error code says more than the HTTP status, except for throttling and outages.
      const specific = errors.length && byStatus.kind !== 'throttled' && byStatus.kind !== 'retry'
      const classes = specific
        ? rowClasses(
            group.rows.length,
            { partialFailureError: { code: 3, details: rpc?.details } },
            ROW_FIELD[group.endpoint],
            true,
          )
        : []
      group.jobs.forEach((j, i) => {
        const c = classes[i] ?? (specific ? classifyAdsError(errors[0]) : byStatus)
        // When the request failed as a whole, a row Google did not name was not recorded: send it again.
        const unnamed = specific && !classes[i]
        const outcome = toOutcome(
          unnamed ? { kind: 'retry', code: 'GOOGLE_ADS_REQUEST_REJECTED', message: c.message } : c,
          res,
          requestId,
        )
        outcomes[j] = retryAfterMs !== undefined ? { ...outcome, retryAfterMs } : outcome
      })
    }

    return {
      async send(jobs: DestinationJob[], ctx: DestinationContext): Promise<Outcome[]> {
        const outcomes: Outcome[] = new Array(jobs.length)
        const groups: Record<AdsEndpoint, Group[]> = { click: [], call: [], adjustment: [] }
        const matchKeys = new Map<number, string[]>()
        jobs.forEach((job, i) => {
          const built = buildAdsRow(job.signal, settings)
          if (!built.ok) {
            outcomes[i] = { kind: 'permanent', code: built.code, message: built.message }
            return
          }
          if (built.endpoint !== 'adjustment') matchKeys.set(i, matchKeysOf(built.row))
          const list = groups[built.endpoint]
          let g = list.at(-1)
          if (!g || g.rows.length >= ADS_MAX_ROWS) {
            g = { endpoint: built.endpoint, rows: [], jobs: [] }
            list.push(g)
          }
          g.rows.push(built.row)
          g.jobs.push(i)
        })
        // Conversions before adjustments: a correction in the same batch as its original must find it.
        for (const g of [...groups.click, ...groups.call, ...groups.adjustment])
          await sendGroup(g, ctx, outcomes)
        for (const [i, keys] of matchKeys) outcomes[i] = { ...outcomes[i], matchKeys: keys }
        return outcomes
      },
    }
  },
}
