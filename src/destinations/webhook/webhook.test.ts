/** The webhook destination's config: a Standard Webhooks secret must be a real key, each one in a rotation list. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readConfig } from '../../config/index.ts'
import { whsecProblem } from './index.ts'

const GOOD = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' // 24 bytes
const errorsFor = (secret: string) =>
  readConfig(
    `destinations: { hook: { type: webhook, url: "https://crm.example/hook", secret: ${secret} } }\n`,
    {},
  ).errors

describe('webhook destination: secret', () => {
  test('empty, non-base64 and short keys are config errors naming the field and why', () => {
    const rule =
      /^destinations\.hook\.secret: must be whsec_ followed by the base64 of at least 24 random bytes/
    for (const [secret, why] of [
      ['whsec_', /got 0 bytes/],
      ['"whsec_not-base64!!"', /not valid base64/],
      ['whsec_c2hvcnQta2V5', /got 9 bytes/],
      ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La', /got 21 bytes/],
    ] as const) {
      const errors = errorsFor(secret)
      assert.equal(errors.length, 1, `${secret}: ${errors.join('; ')}`)
      assert.match(errors[0], rule)
      assert.match(errors[0], why)
    }
  })

  test('each secret of a rotation list is checked, by its index', () => {
    const errors = errorsFor(`[${GOOD}, whsec_]`)
    assert.equal(errors.length, 1, errors.join('; '))
    assert.match(errors[0], /^destinations\.hook\.secret\.1: must be whsec_ .*got 0 bytes/)
  })

  test('24+ byte keys pass, with or without base64 padding', () => {
    assert.deepEqual(errorsFor(GOOD), [])
    assert.deepEqual(errorsFor(`[${GOOD}, whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkgMTIz]`), [])
    assert.equal(whsecProblem(`whsec_${Buffer.alloc(25, 7).toString('base64')}`), undefined)
    assert.equal(whsecProblem(`whsec_${Buffer.alloc(64, 7).toString('base64')}`), undefined)
  })

  test('the ecapi destination’s Standard Webhooks secrets are held to the same rule', () => {
    const ecapi = (secret: string) =>
      readConfig(
        `destinations: { partner: { type: ecapi, url: "https://p.example/ecapi", secret: ${secret} } }\n`,
        {},
      ).errors
    assert.deepEqual(ecapi(GOOD), [])
    // 32 characters that are not base64 of anything: the old pattern let them through
    const [error] = ecapi(`"whsec_${'='.repeat(40)}"`)
    assert.match(error ?? '', /^destinations\.partner\.secret: must be whsec_ .*not valid base64/)
  })

  test('the example config loads with a generated secret', async () => {
    const { readFileSync } = await import('node:fs')
    const text = readFileSync(new URL('../../../closeloop.example.yaml', import.meta.url), 'utf8')
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`
    const { errors, config } = readConfig(text, {
      CRM_WEBHOOK_URL: 'https://crm.example/hook',
      CRM_WEBHOOK_SECRET: secret,
    })
    assert.deepEqual(errors, [])
    assert.equal(config?.destinations['crm-webhook'].enabled, true)
  })
})
