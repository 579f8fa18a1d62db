import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'
import type { FastifyRequest } from 'fastify'
import {
  requireApiKey,
  storableForm,
  storableHeaders,
  storableJson,
  UNAUTHENTICATED_BODY_CHARS,
  unauthenticatedBody,
} from './auth.ts'

describe('what a raw input keeps of a request', () => {
  test('headers: API keys, source tokens, signatures and cookies are redacted; the rest stays', () => {
    const stored = storableHeaders({
      authorization: 'Bearer k',
      'x-api-key': 'k',
      'x-closeloop-token': 'ringba-secret',
      'x-network-token': 'n',
      'x-twilio-signature': 'sig',
      'x-closeloop-signature': 'sig',
      'webhook-secret': 's',
      cookie: 'a=b',
      'content-type': 'application/json',
      'user-agent': 'Ringba',
    })
    assert.deepEqual(stored, {
      authorization: '[redacted]',
      'x-api-key': '[redacted]',
      'x-closeloop-token': '[redacted]',
      'x-network-token': '[redacted]',
      'x-twilio-signature': '[redacted]',
      'x-closeloop-signature': '[redacted]',
      'webhook-secret': '[redacted]',
      cookie: '[redacted]',
      'content-type': 'application/json',
      'user-agent': 'Ringba',
    })
  })

  test('a token query or form parameter is redacted wherever it stands; look-alikes stay', () => {
    assert.equal(
      storableForm('/v1/sources/cc/postback?token=cc-secret&call_id=CA1'),
      '/v1/sources/cc/postback?token=[redacted]&call_id=CA1',
    )
    assert.equal(storableForm('call_id=CA1&Token=cc-secret'), 'call_id=CA1&Token=[redacted]')
    assert.equal(storableForm('token=cc-secret'), 'token=[redacted]')
    assert.equal(storableForm('call_id=CA1&page_token=x&mytoken=y'), 'call_id=CA1&page_token=x&mytoken=y')
  })

  test('the Bearer scheme is read in any case; a wrong key is still refused', () => {
    const req = (authorization: string) => ({ headers: { authorization } }) as unknown as FastifyRequest
    for (const scheme of ['Bearer', 'bearer', 'BEARER'])
      requireApiKey(req(`${scheme} key-0123456789`), ['key-0123456789'])
    assert.throws(() => requireApiKey(req('bearer other-key-000'), ['key-0123456789']), /invalid API key/)
    assert.throws(() => requireApiKey(req('Basic a2V5'), ['key-0123456789']), /missing API key/)
  })

  test('a token member of a JSON body is redacted, escapes and spacing included; look-alikes stay', () => {
    assert.equal(
      storableJson('{"token":"pb-SECRET-1","call_id":"CA1"}'),
      '{"token":"[redacted]","call_id":"CA1"}',
    )
    assert.equal(storableJson('{ "token" :  "a\\"b\\\\", "x": 1 }'), '{ "token" :  "[redacted]", "x": 1 }')
    assert.equal(storableJson('{"page_token":"x","tokens":"y"}'), '{"page_token":"x","tokens":"y"}')
  })

  test('an unauthenticated body is kept to its first 4 KiB, with its size and hash', () => {
    const small = '{"a":1}'
    assert.equal(unauthenticatedBody(small), small)
    const big = `${'é'.repeat(UNAUTHENTICATED_BODY_CHARS - 1)}🙂${'x'.repeat(1_000_000)}`
    const kept = unauthenticatedBody(big)
    const bytes = Buffer.byteLength(big)
    const sha = createHash('sha256').update(big).digest('hex')
    assert.ok(kept.endsWith(`…[truncated: ${bytes} bytes, sha256 ${sha}]`), kept.slice(-120))
    assert.ok(kept.length < UNAUTHENTICATED_BODY_CHARS + 120)
    // a surrogate pair cut in half at the limit is not stored half
    assert.ok(kept.isWellFormed())
  })
})
