/**
 * A local stand-in for `https://oauth2.googleapis.com/token` (tests and `send-test` only).
 *
 * It plays both grants the way Google does: `refresh_token` with a client id/secret, and the JWT bearer
 * grant with an RS256 assertion whose signature, `aud` (this server's URL), lifetime (≤ 1 h) and `scope`
 * are checked. It answers `invalid_grant` / `invalid_client` like Google, and remembers the tokens it issued
 * so the API mocks can tell a live token from a forged or expired one.
 *
 * @example
 *   const oauth = await startMockTokenServer({ clients: [{ clientId: 'c', clientSecret: 's', refreshToken: 'r' }] })
 *   // POST oauth.url  grant_type=refresh_token&client_id=c&client_secret=s&refresh_token=r → { access_token, expires_in }
 *   await oauth.close()
 */
import { createPublicKey, createVerify, type KeyObject } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import { listenLocal, readWholeBody } from '../testing/mock-http.ts'

export interface MockTokenServerOptions {
  clients?: { clientId: string; clientSecret: string; refreshToken: string }[]
  serviceAccounts?: { clientEmail: string; publicKeyPem: string }[]
  /** Seconds; Google's tokens last 3600. */
  expiresIn?: number
  /** Scope a service-account assertion must ask for (when set). */
  scope?: string
}

export interface MockTokenServer {
  url: string
  /** Every token request that reached the server (grant type and the outcome). */
  requests: { grantType: string; status: number }[]
  /** Is this bearer token one the server issued and has not expired or revoked? */
  isValid(token: string): boolean
  /** Revoke every refresh token and issued token (the next refresh gets `invalid_grant`). */
  revokeAll(): void
  /** Expire every issued access token now (the API answers 401 for them). */
  expireAll(): void
  /** Make the next n token requests fail with this HTTP status (e.g. 503). */
  failNext(n: number, status: number): void
  close(): Promise<void>
}

function send(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

/** Verify an RS256 JWT and return its claims, or a reason it is invalid. */
function verifyJwt(
  jwt: string,
  keys: Map<string, KeyObject>,
): { claims: Record<string, unknown> } | { error: string } {
  const parts = jwt.split('.')
  if (parts.length !== 3) return { error: 'assertion is not a JWT' }
  let header: Record<string, unknown>
  let claims: Record<string, unknown>
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as Record<string, unknown>
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    return { error: 'assertion is not valid base64url JSON' }
  }
  if (header.alg !== 'RS256') return { error: 'alg must be RS256' }
  const key = keys.get(String(claims.iss))
  if (!key) return { error: `unknown service account ${String(claims.iss)}` }
  const ok = createVerify('RSA-SHA256')
    .update(`${parts[0]}.${parts[1]}`)
    .verify(key, Buffer.from(parts[2], 'base64url'))
  return ok ? { claims } : { error: 'Invalid JWT Signature.' }
}

export async function startMockTokenServer(opts: MockTokenServerOptions = {}): Promise<MockTokenServer> {
  const expiresIn = opts.expiresIn ?? 3600
  const issued = new Map<string, number>()
  const keys = new Map(
    (opts.serviceAccounts ?? []).map((s) => [s.clientEmail, createPublicKey(s.publicKeyPem)]),
  )
  const requests: MockTokenServer['requests'] = []
  let revoked = false
  let failures = { n: 0, status: 503 }
  let counter = 0
  let url = ''

  const issue = (res: ServerResponse, grantType: string) => {
    const token = `ya29.mock-${++counter}-${Math.random().toString(36).slice(2, 10)}`
    issued.set(token, Date.now() + expiresIn * 1000)
    requests.push({ grantType, status: 200 })
    send(res, 200, { access_token: token, expires_in: expiresIn, token_type: 'Bearer', scope: opts.scope })
  }
  const fail = (
    res: ServerResponse,
    grantType: string,
    status: number,
    error: string,
    description: string,
  ) => {
    requests.push({ grantType, status })
    send(res, status, { error, error_description: description })
  }

  const server = createServer(async (req, res) => {
    const body = await readWholeBody(req)
    if (req.method !== 'POST') return fail(res, '', 405, 'invalid_request', 'POST required')
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded'))
      return fail(res, '', 400, 'invalid_request', 'form-encoded body required')
    const form = new URLSearchParams(body)
    const grantType = form.get('grant_type') ?? ''
    if (failures.n > 0) {
      failures = { ...failures, n: failures.n - 1 }
      return fail(res, grantType, failures.status, 'internal_failure', 'try again')
    }
    if (grantType === 'refresh_token') {
      const client = (opts.clients ?? []).find((c) => c.clientId === form.get('client_id'))
      if (!client || client.clientSecret !== form.get('client_secret'))
        return fail(res, grantType, 401, 'invalid_client', 'The OAuth client was not found.')
      if (revoked || client.refreshToken !== form.get('refresh_token'))
        return fail(res, grantType, 400, 'invalid_grant', 'Token has been expired or revoked.')
      return issue(res, grantType)
    }
    if (grantType === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      const verified = verifyJwt(form.get('assertion') ?? '', keys)
      if ('error' in verified) return fail(res, grantType, 400, 'invalid_grant', verified.error)
      const { aud, iat, exp, scope } = verified.claims
      const now = Math.floor(Date.now() / 1000)
      if (aud !== url) return fail(res, grantType, 400, 'invalid_grant', `Invalid JWT: aud must be ${url}`)
      if (
        typeof iat !== 'number' ||
        typeof exp !== 'number' ||
        exp - iat > 3600 ||
        exp < now ||
        iat > now + 300
      )
        return fail(res, grantType, 400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token')
      if (opts.scope && scope !== opts.scope)
        return fail(res, grantType, 400, 'invalid_scope', 'Invalid OAuth scope')
      if (revoked) return fail(res, grantType, 400, 'invalid_grant', 'Invalid grant: account not found')
      return issue(res, grantType)
    }
    return fail(res, grantType, 400, 'unsupported_grant_type', 'Invalid grant_type')
  })
  const listening = await listenLocal(server, { quietClose: true })
  url = `${listening.url}/token`

  return {
    url,
    requests,
    isValid: (token) => (issued.get(token) ?? 0) > Date.now(),
    revokeAll: () => {
      revoked = true
      issued.clear()
    },
    expireAll: () => {
      for (const t of issued.keys()) issued.set(t, 0)
    },
    failNext: (n, status) => {
      failures = { n, status }
    },
    close: listening.close,
  }
}
