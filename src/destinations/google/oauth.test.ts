import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { readConfig } from '../../config/index.ts'
import { createHttpClient } from '../http.ts'
import { type MockTokenServer, startMockTokenServer } from './mock-token-server.ts'
import {
  classifyTokenError,
  createTokenProvider,
  DATA_MANAGER_SCOPE,
  loadGoogleCredentials,
  signServiceAccountJwt,
} from './oauth.ts'

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
const client = {
  clientId: 'cid.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-secret',
  refreshToken: '1//0refresh-token',
}

describe('google oauth', () => {
  let oauth: MockTokenServer
  const http = createHttpClient({ allowPrivate: true })
  let clock = Date.now()
  const ctx = { http, now: () => clock }

  before(async () => {
    oauth = await startMockTokenServer({
      clients: [client],
      serviceAccounts: [{ clientEmail: 'sa@proj.iam.gserviceaccount.com', publicKeyPem: publicPem }],
      scope: DATA_MANAGER_SCOPE,
    })
  })
  after(async () => {
    await http.close()
    await oauth.close()
  })

  const refreshCreds = () =>
    loadGoogleCredentials({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      refresh_token: client.refreshToken,
      token_url: oauth.url,
    })

  test('refresh-token grant: one request for many concurrent callers, then cached', async () => {
    const before = oauth.requests.length
    const p = createTokenProvider(refreshCreds(), { scope: DATA_MANAGER_SCOPE })
    const results = await Promise.all(Array.from({ length: 20 }, () => p.get(ctx)))
    const tokens = new Set(results.map((r) => ('token' in r ? r.token : 'error')))
    assert.equal(tokens.size, 1)
    const [token] = tokens
    assert.ok(oauth.isValid(token))
    assert.equal(oauth.requests.length - before, 1)
    const again = await p.get(ctx)
    assert.deepEqual(again, { token })
    assert.equal(oauth.requests.length - before, 1)
  })

  test('refreshes early: 5 minutes before expiry, not after', async () => {
    clock = Date.now()
    const p = createTokenProvider(refreshCreds(), { scope: DATA_MANAGER_SCOPE })
    const first = await p.get(ctx)
    clock += 54 * 60_000 // 54 min: still fresh
    assert.deepEqual(await p.get(ctx), first)
    clock += 2 * 60_000 // 56 min: inside the 5-minute window
    const second = await p.get(ctx)
    assert.ok('token' in second && 'token' in first && second.token !== first.token)
    clock = Date.now()
  })

  test('invalidate() after a 401 forces a new token', async () => {
    const p = createTokenProvider(refreshCreds(), { scope: DATA_MANAGER_SCOPE })
    const first = await p.get(ctx)
    assert.ok('token' in first)
    p.invalidate(first.token)
    const second = await p.get(ctx)
    assert.ok('token' in second && second.token !== first.token)
  })

  test('service account: RS256 JWT bearer grant, from a credentials file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'closeloop-sa-'))
    const file = join(dir, 'sa.json')
    writeFileSync(
      file,
      JSON.stringify({
        type: 'service_account',
        client_email: 'sa@proj.iam.gserviceaccount.com',
        private_key: privatePem,
      }),
    )
    const creds = loadGoogleCredentials({ credentials: file, token_url: oauth.url })
    assert.equal(creds.kind, 'service_account')
    const got = await createTokenProvider(creds, { scope: DATA_MANAGER_SCOPE }).get(ctx)
    assert.ok('token' in got && oauth.isValid(got.token))
    assert.equal(oauth.requests.at(-1)?.grantType, 'urn:ietf:params:oauth:grant-type:jwt-bearer')
  })

  test('credentials as base64 JSON load; a bad value or file is a config error that never quotes it', () => {
    const sa = JSON.stringify({
      type: 'service_account',
      client_email: 'sa@proj.iam.gserviceaccount.com',
      private_key: privatePem,
    })
    const b64 = Buffer.from(sa).toString('base64')
    assert.equal(loadGoogleCredentials({ credentials: b64 }).kind, 'service_account')
    const errors = (yaml: string) => readConfig(`destinations:\n  g: ${yaml}\n`, {}).errors
    const secret = 'eyJ0eXBlIjoic2VydmljZV9hY2NvdW50Iiwic2VjcmV0IjoiZG8tbm90LXByaW50In0-not-base64-json'
    const bad = errors(
      `{ type: google_data_manager, operating_account_id: "123-456-7890", conversions: { "*": "1" }, credentials: "${secret}" }`,
    )
    assert.equal(bad.length, 1, bad.join('; '))
    assert.match(bad[0], /^destinations\.g\.credentials: google credentials: `credentials` is (not|neither)/)
    const missing = errors(
      '{ type: google_data_manager, operating_account_id: "123-456-7890", conversions: { "*": "1" }, credentials: /nowhere/sa.json }',
    )
    assert.match(missing[0], /not JSON, base64 JSON or a readable file \(ENOENT\)$/)
    assert.ok(!bad[0].includes(secret.slice(0, 20)), 'the value is never printed')
    // a time zone Google Ads cannot format is refused at load, naming the field
    const tz = errors(
      `{ type: google_ads, customer_id: "123-456-7890", developer_token: d, conversions: { "*": "1" }, credentials: ${JSON.stringify(b64)}, time_zone: Mars/Base }`,
    )
    assert.deepEqual(tz, ['destinations.g.time_zone: unknown IANA time zone "Mars/Base"'])
  })

  test('a JWT signed with another key is refused and pauses the destination', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    })
    const creds = loadGoogleCredentials({
      credentials: JSON.stringify({
        type: 'service_account',
        client_email: 'sa@proj.iam.gserviceaccount.com',
        private_key: other.toString(),
      }),
      token_url: oauth.url,
    })
    const got = await createTokenProvider(creds, { scope: DATA_MANAGER_SCOPE }).get(ctx)
    assert.ok('outcome' in got)
    assert.equal(got.outcome.kind, 'paused')
    assert.equal(got.outcome.code, 'GOOGLE_OAUTH_INVALID_GRANT')
  })

  test('the JWT carries iss, scope, aud and a one-hour lifetime', () => {
    const jwt = signServiceAccountJwt(
      {
        kind: 'service_account',
        clientEmail: 'sa@x',
        privateKey: privatePem,
        tokenUrl: 'https://oauth2.googleapis.com/token',
      },
      DATA_MANAGER_SCOPE,
      1_767_225_600,
    )
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())
    assert.deepEqual(claims, {
      iss: 'sa@x',
      scope: DATA_MANAGER_SCOPE,
      aud: 'https://oauth2.googleapis.com/token',
      iat: 1_767_225_600,
      exp: 1_767_229_200,
    })
  })

  test('secrets never reach the recorded exchange', async () => {
    const got = await createTokenProvider(
      loadGoogleCredentials({
        client_id: client.clientId,
        client_secret: 'wrong-secret',
        refresh_token: 'r-token',
        token_url: oauth.url,
      }),
      { scope: DATA_MANAGER_SCOPE },
    ).get(ctx)
    assert.ok('outcome' in got)
    assert.equal(got.outcome.kind, 'paused')
    assert.equal(got.outcome.code, 'GOOGLE_OAUTH_INVALID_CLIENT')
    const recorded = JSON.stringify(got.outcome.exchange)
    assert.ok(!recorded.includes('wrong-secret') && !recorded.includes('r-token'), recorded)
  })

  test('issued access tokens are redacted from the successful exchange', async () => {
    const exchanges: { response?: string }[] = []
    const spy = {
      request: async (req: Parameters<typeof http.request>[0]) => {
        const res = await http.request(req)
        exchanges.push(res.exchange)
        return res
      },
      close: () => Promise.resolve(),
    }
    const got = await createTokenProvider(refreshCreds(), { scope: DATA_MANAGER_SCOPE }).get({
      http: spy,
      now: ctx.now,
    })
    assert.ok('token' in got)
    assert.match(exchanges[0].response ?? '', /"access_token":"\[redacted\]"/)
  })

  test('a revoked refresh token pauses; a 503 from the token endpoint retries', async () => {
    oauth.failNext(1, 503)
    const p = createTokenProvider(refreshCreds(), { scope: DATA_MANAGER_SCOPE })
    const down = await p.get(ctx)
    assert.ok('outcome' in down && down.outcome.kind === 'retry')
    oauth.revokeAll()
    const revoked = await p.get(ctx)
    assert.ok('outcome' in revoked)
    assert.equal(revoked.outcome.kind, 'paused')
    assert.match(revoked.outcome.message ?? '', /invalid_grant/)
  })

  test('token error classification', () => {
    assert.equal(classifyTokenError(undefined, '').kind, 'retry')
    assert.equal(classifyTokenError(429, '{}').kind, 'throttled')
    assert.equal(classifyTokenError(500, '').kind, 'retry')
    assert.equal(classifyTokenError(400, '{"error":"invalid_grant"}').kind, 'paused')
    assert.equal(classifyTokenError(400, '{"error":"invalid_request"}').kind, 'permanent')
  })

  test('incomplete credentials are a configuration error', () => {
    assert.throws(() => loadGoogleCredentials({ client_id: 'x' }), /required together/)
    assert.throws(() => loadGoogleCredentials({}), /set `credentials`/)
    assert.throws(() => loadGoogleCredentials({ credentials: '{"type":"external_account"}' }), /unsupported/)
  })
})
