/**
 * `google_data_manager`: conversions to Google Ads through the Data Manager API (`POST /v1/events:ingest`),
 * Google's primary conversion-import API since 2026 and the only one open to new developer tokens.
 *
 * Each signal becomes one `Event` with `transactionId` = signal id (Google deduplicates on it; a repeat with
 * new data is an adjustment), an RFC 3339 `eventTimestamp`, value and currency, `eventSource` PHONE for call
 * signals, the Google click id when one is known, hashed email / phone / address when consent allows, and the
 * signal's consent. Signals are routed to conversion actions by name (`conversions: { 'disposition:*': '123' }`).
 * Test mode sets `validateOnly`. See docs/destinations/google_data_manager.md.
 *
 * @example
 *   destinations:
 *     google:
 *       type: google_data_manager
 *       credentials: ${GOOGLE_CREDENTIALS_FILE}
 *       operating_account_id: "123-456-7890"
 *       conversions: { call_connected: "111", qualified_call: "222", "disposition:*": "333" }
 */
import { type Static, Type as T } from '@sinclair/typebox'
import type { Outcome } from '../../model/signal.ts'
import type { DestinationContext, DestinationDefinition, DestinationJob } from '../contract.ts'
import {
  createTokenProvider,
  DATA_MANAGER_SCOPE,
  GOOGLE_CREDENTIAL_SECRETS,
  GoogleCredentialFields,
  googleCredentialProblems,
  loadGoogleCredentials,
  type TokenProvider,
} from '../google/oauth.ts'
import { classifyHttp, parseRetryAfter } from '../http.ts'
import { classifyDmError } from './errors.ts'
import {
  type BuiltDmEvent,
  buildDmEvent,
  buildIngestRequest,
  DM_MAX_EVENTS,
  type DmAccountType,
  type DmSettings,
  matchKeysOf,
  productAccount,
} from './payload.ts'

export const DATA_MANAGER_BASE_URL = 'https://datamanager.googleapis.com'

const AccountType = T.Union(
  (
    [
      'GOOGLE_ADS',
      'DISPLAY_VIDEO_PARTNER',
      'DISPLAY_VIDEO_ADVERTISER',
      'DATA_PARTNER',
      'GOOGLE_ANALYTICS_PROPERTY',
      'GOOGLE_AD_MANAGER_AUDIENCE_LINK',
    ] as const
  ).map((t) => T.Literal(t)),
)
const AccountId = T.String({ minLength: 1, maxLength: 64 })
/** A Google Ads conversion action id (digits). */
const ConversionActionId = T.String({ pattern: '^[0-9]+$' })

export const GoogleDataManagerConfig = T.Object({
  ...GoogleCredentialFields,
  /** The conversion-owning Google Ads account (not a manager account), `123-456-7890` or digits. */
  operating_account_id: AccountId,
  operating_account_type: T.Optional(AccountType),
  /** Manager (MCC) account the credential logs in through, when it is not the operating account. */
  login_account_id: T.Optional(AccountId),
  login_account_type: T.Optional(AccountType),
  /** Partner-link access only. */
  linked_account_id: T.Optional(AccountId),
  linked_account_type: T.Optional(AccountType),
  /** Signal name or glob (`disposition:*`) → conversion action id. Exact names win over globs. */
  conversions: T.Optional(T.Record(T.String({ minLength: 1 }), ConversionActionId)),
  /** Conversion action for any signal `conversions` does not match. */
  destination_id: T.Optional(ConversionActionId),
  /** Region for phone numbers written without a country code (ISO 3166-1 alpha-2). */
  default_region: T.Optional(T.String({ pattern: '^[A-Z]{2}$' })),
})
export type GoogleDataManagerConfig = Static<typeof GoogleDataManagerConfig>

/** Settings the payload builder needs, from the YAML config. @example dmSettings({ operating_account_id: '1', … }) */
export function dmSettings(config: GoogleDataManagerConfig): DmSettings {
  const account = (id: string | undefined, type: DmAccountType | undefined) =>
    id ? productAccount(id, type ?? 'GOOGLE_ADS') : undefined
  const settings: DmSettings = {
    operatingAccount: productAccount(
      config.operating_account_id,
      config.operating_account_type ?? 'GOOGLE_ADS',
    ),
    conversions: config.conversions ?? {},
    defaultRegion: config.default_region ?? 'US',
  }
  const login = account(config.login_account_id, config.login_account_type)
  const linked = account(config.linked_account_id, config.linked_account_type)
  if (login) settings.loginAccount = login
  if (linked) settings.linkedAccount = linked
  if (config.destination_id) settings.defaultConversion = config.destination_id
  return settings
}

type Built = Extract<BuiltDmEvent, { ok: true }> & { job: number }

/** Send one request; on a 401, drop the token and try once more with a fresh one (Google's documented flow). */
async function postIngest(
  ctx: DestinationContext,
  tokens: TokenProvider,
  url: string,
  body: string,
  timeoutMs: number,
): Promise<{ outcome?: Outcome; res?: Awaited<ReturnType<DestinationContext['http']['request']>> }> {
  for (let attempt = 0; ; attempt++) {
    const got = await tokens.get(ctx)
    if ('outcome' in got) return { outcome: got.outcome }
    const res = await ctx.http.request({
      method: 'POST',
      url,
      headers: {
        authorization: `Bearer ${got.token}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body,
      timeoutMs,
      secrets: [got.token],
    })
    if (res.status === 401 && attempt === 0) {
      tokens.invalidate(got.token)
      continue
    }
    return { res }
  }
}

/**
 * Re-sends of one chunk after Google pinpointed bad events. Each removes at least one bad event; past the
 * limit, the events not yet sent through are retried later rather than dead-lettered, since nothing says
 * they are bad.
 */
const MAX_RESENDS = 8

/**
 * Send a chunk; if Google pinpoints bad events, dead-letter those and re-send the rest (fast-fail means the
 * good events in a rejected request were not processed). A fast-fail answer may name only the first bad
 * event, so the rest is re-sent until it goes through, up to `MAX_RESENDS` times: re-sending once
 * dead-lettered every good event behind a second bad one.
 */
async function sendChunk(
  chunk: Built[],
  settings: DmSettings,
  ctx: DestinationContext,
  tokens: TokenProvider,
  url: string,
  timeoutMs: number,
  outcomes: Outcome[],
  resends = 0,
): Promise<void> {
  const request = buildIngestRequest(chunk, settings, { validateOnly: ctx.testMode })
  const { outcome, res } = await postIngest(ctx, tokens, url, JSON.stringify(request), timeoutMs)
  if (outcome || !res) {
    for (const b of chunk) outcomes[b.job] = outcome ?? { kind: 'retry', code: 'GOOGLE_DM_NO_RESPONSE' }
    return
  }
  const { exchange, status } = res
  if (status !== undefined && status >= 200 && status < 300) {
    let requestId = ''
    try {
      requestId = String((JSON.parse(res.body) as { requestId?: unknown }).requestId ?? '')
    } catch {}
    const code = ctx.testMode ? 'GOOGLE_DM_VALIDATED' : 'GOOGLE_DM_ACCEPTED'
    const message = requestId ? `requestId ${requestId}` : undefined
    for (const b of chunk)
      outcomes[b.job] = { kind: 'delivered', exchange, code, ...(message ? { message } : {}) }
    return
  }
  if (status === undefined) {
    const generic = classifyHttp(res, ctx.now())
    for (const b of chunk) outcomes[b.job] = generic
    return
  }
  const error = classifyDmError(status, res.body)
  const retryAfterMs = parseRetryAfter(res.headers['retry-after'], ctx.now())
  const failed: Outcome = {
    kind: error.kind,
    exchange,
    code: error.code,
    message: error.message,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  }
  const bad = new Set(error.eventIndexes.filter((i) => i < chunk.length))
  if (error.kind !== 'permanent' || bad.size === 0 || bad.size === chunk.length) {
    for (const b of chunk) outcomes[b.job] = failed
    return
  }
  const rest: Built[] = []
  chunk.forEach((b, i) => {
    if (bad.has(i)) outcomes[b.job] = failed
    else rest.push(b)
  })
  if (resends >= MAX_RESENDS) {
    const later: Outcome = {
      kind: 'retry',
      exchange,
      code: 'GOOGLE_DM_RESEND_LIMIT',
      message: `sent again ${MAX_RESENDS} times after Google named bad events; retried later`,
    }
    for (const b of rest) outcomes[b.job] = later
    return
  }
  await sendChunk(rest, settings, ctx, tokens, url, timeoutMs, outcomes, resends + 1)
}

export const googleDataManagerDestination: DestinationDefinition<typeof GoogleDataManagerConfig> = {
  type: 'google_data_manager',
  audience: 'google',
  configSchema: GoogleDataManagerConfig,
  defaults: {
    // Half Google's 2,000-event cap: fast-fail rejects a whole request for one bad event, so smaller
    // requests bound the blast radius, and 1,000 events (~1 MB) still amortise the round trip.
    batchSize: 1000,
    // Data Manager quotas are per Cloud project; 4 parallel requests stay well inside them.
    concurrency: 4,
    // An ingest round trip is ~1 s at p99; 30 s leaves room for a 2,000-event body without hiding outages.
    timeoutMs: 30_000,
  },
  secrets: GOOGLE_CREDENTIAL_SECRETS,
  check: (config) => googleCredentialProblems(config),
  create(_name, config) {
    const settings = dmSettings(config)
    const tokens = createTokenProvider(loadGoogleCredentials(config), { scope: DATA_MANAGER_SCOPE })
    const url = `${(config.base_url ?? DATA_MANAGER_BASE_URL).replace(/\/+$/, '')}/v1/events:ingest`
    const timeoutMs = config.timeout_ms ?? googleDataManagerDestination.defaults.timeoutMs
    return {
      async send(jobs: DestinationJob[], ctx: DestinationContext): Promise<Outcome[]> {
        const outcomes: Outcome[] = new Array(jobs.length)
        const built: Built[] = []
        jobs.forEach((job, i) => {
          const b = buildDmEvent(job.signal, settings)
          if (b.ok) built.push({ ...b, job: i })
          else outcomes[i] = { kind: 'permanent', code: b.code, message: b.message }
        })
        for (let i = 0; i < built.length; i += DM_MAX_EVENTS)
          await sendChunk(built.slice(i, i + DM_MAX_EVENTS), settings, ctx, tokens, url, timeoutMs, outcomes)
        for (const b of built) outcomes[b.job] = { ...outcomes[b.job], matchKeys: matchKeysOf(b.event) }
        return outcomes
      },
    }
  },
}
