/**
 * OAuth2 access tokens for Google APIs, shared by the Data Manager and Google Ads destinations.
 *
 * Two grants: a refresh token (`client_id` + `client_secret` + `refresh_token`, from a one-time consent), or a
 * service account (JWT bearer grant, RS256-signed with `node:crypto`). Tokens are cached per provider and
 * refreshed early; concurrent callers share one refresh in flight (what `google-auth-library` does).
 * Failures come back as an `Outcome`, so a revoked grant pauses the destination instead of burning retries.
 *
 * @example
 *   const tokens = createTokenProvider(loadGoogleCredentials({ credentials: '/etc/closeloop/sa.json' }), {
 *     scope: DATA_MANAGER_SCOPE,
 *   })
 *   const got = await tokens.get(ctx)   // { token: 'ya29…' } or { outcome: { kind: 'paused', … } }
 */
import { createSign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Type as T } from '@sinclair/typebox'
import type { Outcome } from '../../model/signal.ts'
import { type HttpClient, parseRetryAfter, redactSecrets } from '../http.ts'

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token'
export const DATA_MANAGER_SCOPE = 'https://www.googleapis.com/auth/datamanager'
export const ADS_SCOPE = 'https://www.googleapis.com/auth/adwords'

/** Refresh this long before expiry: google-auth-library's default `eagerRefreshThresholdMillis`. */
const EAGER_REFRESH_MS = 5 * 60_000
/** Service-account assertions live one hour, the maximum Google accepts. */
const JWT_LIFETIME_S = 3600
/** Token endpoint timeout: Google answers in well under a second; a stuck call must not hold the batch. */
const TOKEN_TIMEOUT_MS = 10_000

/** Credential fields every Google destination accepts (all optional; `loadGoogleCredentials` checks the set). */
export const GoogleCredentialFields = {
  /** Path to a Google JSON credential (service account or `authorized_user`), or the JSON itself. */
  credentials: T.Optional(T.String({ minLength: 1 })),
  client_id: T.Optional(T.String({ minLength: 1 })),
  client_secret: T.Optional(T.String({ minLength: 1 })),
  refresh_token: T.Optional(T.String({ minLength: 1 })),
  /** OAuth2 token endpoint; point it at a local server in tests. */
  token_url: T.Optional(T.String({ pattern: '^https?://' })),
}

/** Config keys that hold secrets, for the definition's `secrets` list. */
export const GOOGLE_CREDENTIAL_SECRETS = ['credentials', 'client_secret', 'refresh_token']

export type GoogleCredentials =
  | { kind: 'refresh_token'; clientId: string; clientSecret: string; refreshToken: string; tokenUrl: string }
  | { kind: 'service_account'; clientEmail: string; privateKey: string; tokenUrl: string; subject?: string }

export interface CredentialConfig {
  credentials?: string
  client_id?: string
  client_secret?: string
  refresh_token?: string
  token_url?: string
}

/**
 * Resolve the configured credential: explicit refresh-token fields win, then `credentials` (a file path or
 * inline JSON of type `service_account` or `authorized_user`). Throws on an incomplete set: that is a
 * configuration error to report at startup, not a delivery failure.
 *
 * @example loadGoogleCredentials({ client_id: 'c', client_secret: 's', refresh_token: 'r' }).kind // 'refresh_token'
 */
export function loadGoogleCredentials(config: CredentialConfig): GoogleCredentials {
  const override = config.token_url
  if (config.client_id || config.client_secret || config.refresh_token) {
    if (!config.client_id || !config.client_secret || !config.refresh_token)
      throw new Error('google credentials: client_id, client_secret and refresh_token are required together')
    return {
      kind: 'refresh_token',
      clientId: config.client_id,
      clientSecret: config.client_secret,
      refreshToken: config.refresh_token,
      tokenUrl: override ?? GOOGLE_TOKEN_URL,
    }
  }
  if (!config.credentials)
    throw new Error(
      'google credentials: set `credentials` (service account JSON) or client_id/client_secret/refresh_token',
    )
  const text = credentialText(config.credentials)
  let json: Record<string, unknown>
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new Error('google credentials: `credentials` is neither a JSON credential nor a path to one')
  }
  const str = (k: string) => (typeof json[k] === 'string' && json[k] !== '' ? (json[k] as string) : undefined)
  if (json.type === 'service_account') {
    const clientEmail = str('client_email')
    const privateKey = str('private_key')
    if (!clientEmail || !privateKey)
      throw new Error('google credentials: service account needs client_email and private_key')
    return {
      kind: 'service_account',
      clientEmail,
      privateKey,
      tokenUrl: override ?? str('token_uri') ?? GOOGLE_TOKEN_URL,
    }
  }
  if (json.type === 'authorized_user') {
    const clientId = str('client_id')
    const clientSecret = str('client_secret')
    const refreshToken = str('refresh_token')
    if (!clientId || !clientSecret || !refreshToken)
      throw new Error('google credentials: authorized_user needs client_id, client_secret and refresh_token')
    return {
      kind: 'refresh_token',
      clientId,
      clientSecret,
      refreshToken,
      tokenUrl: override ?? GOOGLE_TOKEN_URL,
    }
  }
  throw new Error(`google credentials: unsupported credential type ${JSON.stringify(json.type)}`)
}

/**
 * The credential JSON `credentials` holds: inline, base64 of it (as an environment variable often carries
 * it), or a file path. Never quoted in an error: a failed read once printed the whole base64 credential.
 */
function credentialText(credentials: string): string {
  if (credentials.trimStart().startsWith('{')) return credentials
  const decoded = Buffer.from(credentials.trim(), 'base64').toString('utf8')
  if (decoded.trimStart().startsWith('{')) return decoded
  try {
    return readFileSync(credentials, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable'
    throw new Error(
      `google credentials: \`credentials\` is not JSON, base64 JSON or a readable file (${code})`,
    )
  }
}

/**
 * `loadGoogleCredentials` as a config check: what is wrong with the credential fields, naming them, never
 * quoting a value. Run at load, so `check-config` catches what `serve` would fail on.
 *
 * @example googleCredentialProblems({ client_id: 'c' }) // ['client_id: google credentials: client_id, …']
 */
export function googleCredentialProblems(config: CredentialConfig): string[] {
  try {
    loadGoogleCredentials(config)
    return []
  } catch (err) {
    const field =
      config.client_id || config.client_secret || config.refresh_token ? 'client_id' : 'credentials'
    return [`${field}: ${(err as Error).message}`]
  }
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url')

/**
 * A signed JWT bearer assertion (RFC 7523) for a service account: RS256 over `header.claims`.
 *
 * @example signServiceAccountJwt(creds, DATA_MANAGER_SCOPE, 1767225600) // 'eyJhbGciOiJSUzI1NiIs…'
 */
export function signServiceAccountJwt(
  creds: Extract<GoogleCredentials, { kind: 'service_account' }>,
  scope: string,
  nowS: number,
): string {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))
  const claims: Record<string, string | number> = {
    iss: creds.clientEmail,
    scope,
    aud: creds.tokenUrl,
    iat: nowS,
    exp: nowS + JWT_LIFETIME_S,
  }
  if (creds.subject) claims.sub = creds.subject
  const body = b64url(JSON.stringify(claims))
  const signature = createSign('RSA-SHA256').update(`${header}.${body}`).sign(creds.privateKey)
  return `${header}.${body}.${b64url(signature)}`
}

/** The form body of a token request, and the values in it to redact from the attempt log. */
export function tokenRequestBody(
  creds: GoogleCredentials,
  scope: string,
  nowS: number,
): { body: string; secrets: string[] } {
  if (creds.kind === 'refresh_token') {
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: creds.clientId,
      client_secret: creds.clientSecret,
      refresh_token: creds.refreshToken,
    }).toString()
    return { body, secrets: [creds.clientSecret, creds.refreshToken] }
  }
  const assertion = signServiceAccountJwt(creds, scope, nowS)
  const body = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
    assertion,
  }).toString()
  return { body, secrets: [assertion] }
}

export type TokenResult = { token: string } | { outcome: Outcome }

export interface TokenProvider {
  /** A valid access token (cached, refreshed early), or the outcome to give every job when none can be had. */
  get(ctx: { http: HttpClient; now(): number }): Promise<TokenResult>
  /** Drop a token the API rejected (HTTP 401) so the next `get` refreshes. */
  invalidate(token: string): void
}

/**
 * How a token-endpoint failure maps to delivery outcomes: `invalid_grant` / `invalid_client` /
 * `unauthorized_client` mean the credential is revoked or wrong and only the tenant can fix it (pause);
 * 429 and 5xx are Google's problem (retry).
 *
 * @example classifyTokenError(400, '{"error":"invalid_grant"}').kind // 'paused'
 */
export function classifyTokenError(
  status: number | undefined,
  body: string,
): Pick<Outcome, 'kind' | 'code' | 'message'> {
  if (status === undefined)
    return { kind: 'retry', code: 'GOOGLE_TOKEN_NETWORK', message: 'token endpoint unreachable' }
  let error = ''
  let description = ''
  try {
    const json = JSON.parse(body) as { error?: unknown; error_description?: unknown }
    error = typeof json.error === 'string' ? json.error : ''
    description = typeof json.error_description === 'string' ? json.error_description : ''
  } catch {}
  const message = `token endpoint HTTP ${status}${error ? `: ${error}` : ''}${description ? ` (${description})` : ''}`
  if (status === 429) return { kind: 'throttled', code: 'GOOGLE_TOKEN_THROTTLED', message }
  if (status >= 500) return { kind: 'retry', code: `GOOGLE_TOKEN_HTTP_${status}`, message }
  if (
    ['invalid_grant', 'invalid_client', 'unauthorized_client', 'access_denied', 'invalid_scope'].includes(
      error,
    ) ||
    status === 401
  )
    return { kind: 'paused', code: `GOOGLE_OAUTH_${(error || 'unauthorized').toUpperCase()}`, message }
  return { kind: 'permanent', code: `GOOGLE_TOKEN_HTTP_${status}`, message }
}

/**
 * A token provider for one credential and scope.
 *
 * @example
 *   const p = createTokenProvider(creds, { scope: ADS_SCOPE })
 *   const [a, b] = await Promise.all([p.get(ctx), p.get(ctx)])   // one request to the token endpoint
 */
export function createTokenProvider(
  creds: GoogleCredentials,
  opts: { scope: string; timeoutMs?: number },
): TokenProvider {
  let cached: { token: string; refreshAt: number } | undefined
  let inFlight: Promise<TokenResult> | undefined

  async function refresh(ctx: { http: HttpClient; now(): number }): Promise<TokenResult> {
    const started = ctx.now()
    const { body, secrets } = tokenRequestBody(creds, opts.scope, Math.floor(started / 1000))
    const res = await ctx.http.request({
      method: 'POST',
      url: creds.tokenUrl,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      timeoutMs: opts.timeoutMs ?? TOKEN_TIMEOUT_MS,
      secrets,
    })
    let json: { access_token?: unknown; expires_in?: unknown } = {}
    try {
      json = JSON.parse(res.body) as typeof json
    } catch {}
    const token = typeof json.access_token === 'string' ? json.access_token : undefined
    if (res.status === 200 && token) {
      if (res.exchange.response) res.exchange.response = redactSecrets(res.exchange.response, [token])
      // Google issues 3600 s tokens; a missing or odd expires_in is treated as that.
      const ttlMs =
        (typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 3600) * 1000
      // Refresh 5 min early, or at half-life for short-lived tokens, so no request ever carries a dying token.
      cached = { token, refreshAt: started + Math.max(0, ttlMs - Math.min(EAGER_REFRESH_MS, ttlMs / 2)) }
      return { token }
    }
    const classified = classifyTokenError(res.status, res.body)
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], ctx.now())
    return {
      outcome: {
        ...classified,
        exchange: res.exchange,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      },
    }
  }

  return {
    async get(ctx) {
      if (cached && ctx.now() < cached.refreshAt) return { token: cached.token }
      if (!inFlight) {
        inFlight = refresh(ctx).finally(() => {
          inFlight = undefined
        })
      }
      return inFlight
    },
    invalidate(token) {
      if (cached?.token === token) cached = undefined
    },
  }
}
