import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sha256Hex } from '../../identity/hash.ts'
import { type MockTokenServer, startMockTokenServer } from '../google/mock-token-server.ts'
import { checkMessage, loadProtoRoot } from '../google/proto-json.ts'
import { callOnly, job, leadOnly, signal, silentLog, T0 } from '../google/test-signals.ts'
import { createHttpClient } from '../http.ts'
import { classifyDmError } from './errors.ts'
import { dmSettings, type GoogleDataManagerConfig, googleDataManagerDestination } from './index.ts'
import { type MockDataManager, startMockDataManager } from './mock-server.ts'
import { buildDmEvent, buildIngestRequest, type DmEvent, matchKeysOf, userIdentifiers } from './payload.ts'

const ROOT = loadProtoRoot('@google-ads/datamanager')
const REQUEST = 'google.ads.datamanager.v1.IngestEventsRequest'
const client = { clientId: 'cid', clientSecret: 'GOCSPX-dm-secret', refreshToken: '1//dm-refresh' }
const baseConfig = {
  type: 'google_data_manager',
  operating_account_id: '123-456-7890',
  conversions: { call_connected: '111', qualified_call: '222', 'disposition:*': '333', generate_lead: '444' },
  client_id: client.clientId,
  client_secret: client.clientSecret,
  refresh_token: client.refreshToken,
}
const settings = dmSettings(baseConfig as GoogleDataManagerConfig)

const built = (s = signal()) => {
  const b = buildDmEvent(s, settings)
  assert.ok(b.ok, JSON.stringify(b))
  return b
}

describe('data manager payload', () => {
  test('click conversion from a connected call: every field, valid against the proto', () => {
    const b = built()
    assert.equal(b.kind, 'click')
    assert.equal(b.productDestinationId, '111')
    assert.deepEqual(b.event, {
      destinationReferences: ['ca-111'],
      transactionId: 'sig-1',
      eventTimestamp: '2026-03-02T15:04:05Z',
      consent: { adUserData: 'CONSENT_GRANTED', adPersonalization: 'CONSENT_GRANTED' },
      eventSource: 'PHONE',
      userData: {
        userIdentifiers: [
          { emailAddress: sha256Hex('janedoe@gmail.com') },
          { phoneNumber: '7c8d08bf90ca322bcac37f99ba14e980e4b1f5ba919f7e16a030af9070ba125e' },
        ],
      },
      adIdentifiers: { gclid: 'Cj0KCQiA-gclid' },
      conversionValue: 25,
      currency: 'USD',
    } satisfies DmEvent)
    const request = buildIngestRequest([b], settings, { validateOnly: false })
    assert.deepEqual(request.destinations, [
      {
        reference: 'ca-111',
        operatingAccount: { accountId: '1234567890', accountType: 'GOOGLE_ADS' },
        productDestinationId: '111',
      },
    ])
    assert.equal(request.encoding, 'HEX')
    assert.equal(request.validateOnly, undefined)
    assert.deepEqual(checkMessage(ROOT, REQUEST, request), [])
  })

  test('call only: the hashed caller number, first', () => {
    const b = built(callOnly({ event: { user_data: { phone_numbers: '+1 510 555 0011' } } }))
    assert.equal(b.kind, 'call')
    assert.deepEqual(b.event.userData?.userIdentifiers, [
      { phoneNumber: sha256Hex('+12125550000') },
      { phoneNumber: sha256Hex('+15105550011') },
    ])
    assert.equal(b.event.adIdentifiers, undefined)
  })

  test('hashed PII only: enhanced conversion for leads, eventSource from the ECAPI source', () => {
    const b = built(leadOnly())
    assert.equal(b.kind, 'lead')
    assert.equal(b.event.eventSource, 'WEB')
    assert.deepEqual(b.event.userData, { userIdentifiers: [{ emailAddress: sha256Hex('lead@example.com') }] })
  })

  test('no PII consent: click conversions go without identifiers, call/lead conversions cannot go', () => {
    const denied = { pii: false, adUserData: 'denied', adPersonalization: 'denied' } as const
    const click = built(signal({ consent: denied }))
    assert.equal(click.event.userData, undefined)
    assert.deepEqual(click.event.consent, {
      adUserData: 'CONSENT_DENIED',
      adPersonalization: 'CONSENT_DENIED',
    })
    const call = buildDmEvent(callOnly({ consent: denied }), settings)
    assert.deepEqual(call.ok ? call : { code: call.code }, { code: 'GOOGLE_NO_IDENTIFIERS' })
  })

  test('address identifiers: names hashed, region and postal code in the clear', () => {
    const b = built(
      leadOnly({
        event: {
          user_data: {
            address: { first_name: 'Jane', last_name: 'Smith', country_code: 'us', postal_code: '10001' },
          },
        },
      }),
    )
    assert.deepEqual(b.event.userData?.userIdentifiers, [
      {
        address: {
          givenName: '81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2',
          familyName: '6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd',
          regionCode: 'US',
          postalCode: '10001',
        },
      },
    ])
  })

  test('at most 10 identifiers, kinds interleaved', () => {
    const emails = Array.from({ length: 8 }, (_, i) => sha256Hex(`e${i}`))
    const phones = Array.from({ length: 8 }, (_, i) => sha256Hex(`p${i}`))
    const ids = userIdentifiers({ emails, phones, addresses: [] })
    assert.equal(ids.length, 10)
    assert.deepEqual(ids.slice(0, 2), [{ emailAddress: emails[0] }, { phoneNumber: phones[0] }])
  })

  test('gbraid/wbraid: one braid only, gclid wins', () => {
    const braids = built(signal({ event: { ext: { click_ids: { gbraid: 'gb', wbraid: 'wb' } } } }))
    assert.deepEqual(braids.event.adIdentifiers, { wbraid: 'wb' })
    const landing = built(
      signal({
        event: { user_data: { landing_user_agent: 'Mozilla/5.0', landing_ip_address: '203.0.113.9' } },
      }),
    )
    assert.deepEqual(landing.event.adIdentifiers, {
      gclid: 'Cj0KCQiA-gclid',
      landingPageDeviceInfo: { userAgent: 'Mozilla/5.0', ipAddress: '203.0.113.9' },
    })
  })

  test('match keys: consented PII reports the identifier kinds with the click id', () => {
    assert.deepEqual(matchKeysOf(built().event), ['email', 'gclid', 'phone'])
    assert.deepEqual(matchKeysOf(built(callOnly()).event), ['phone'])
    const address = built(
      leadOnly({
        event: {
          user_data: {
            email_address: 'lead@example.com',
            address: { first_name: 'Jane', last_name: 'Smith', country_code: 'us', postal_code: '10001' },
          },
        },
      }),
    )
    assert.deepEqual(matchKeysOf(address.event), ['address', 'email'])
  })

  test('match keys: without PII consent only the click id; nothing matchable → []', () => {
    const denied = { pii: false, adUserData: 'denied', adPersonalization: 'denied' } as const
    assert.deepEqual(matchKeysOf(built(signal({ consent: denied })).event), ['gclid'])
    const braid = built(signal({ consent: denied, event: { ext: { click_ids: { gbraid: 'gb' } } } }))
    assert.deepEqual(matchKeysOf(braid.event), ['gbraid'])
    assert.deepEqual(matchKeysOf({}), [])
    assert.deepEqual(
      matchKeysOf({ adIdentifiers: { landingPageDeviceInfo: { userAgent: 'Mozilla/5.0' } } }),
      [],
    )
  })

  test('routing: exact name, glob, default, none', () => {
    assert.equal(built(signal({ name: 'disposition:Sale' })).productDestinationId, '333')
    const none = buildDmEvent(signal({ name: 'closed_outcome' }), settings)
    assert.equal(none.ok ? 'ok' : none.code, 'GOOGLE_NO_CONVERSION_ACTION')
    const withDefault = buildDmEvent(signal({ name: 'closed_outcome' }), {
      ...settings,
      defaultConversion: '999',
    })
    assert.equal(withDefault.ok && withDefault.productDestinationId, '999')
    const followUp = buildDmEvent(signal({ name: 'follow_up' }), settings)
    assert.equal(followUp.ok ? 'ok' : followUp.code, 'GOOGLE_NOT_A_CONVERSION')
  })

  test('corrections: restatement re-sends the original transactionId; retraction is refused', () => {
    const restate = built(
      signal({
        id: 'sig-9',
        name: 'correction',
        value: 40,
        occurredAt: T0 + 86_400,
        attrs: {
          corrects: 'sig-1',
          adjustment: 'restate',
          corrects_name: 'disposition:Sale',
          corrects_occurred_at: T0,
        },
      }),
    )
    assert.equal(restate.event.transactionId, 'sig-1')
    assert.equal(restate.event.eventTimestamp, '2026-03-02T15:04:05Z')
    assert.equal(restate.event.lastUpdatedTimestamp, '2026-03-03T15:04:05Z')
    assert.equal(restate.event.conversionValue, 40)
    assert.equal(restate.productDestinationId, '333')
    const retract = buildDmEvent(
      signal({ name: 'correction', attrs: { corrects: 'sig-1', adjustment: 'retract' } }),
      settings,
    )
    assert.equal(retract.ok ? 'ok' : retract.code, 'GOOGLE_DM_RETRACTION_UNSUPPORTED')
  })

  test('the proto checker catches what Google would reject', () => {
    const b = built()
    const bad = buildIngestRequest([b], settings, { validateOnly: true }) as unknown as Record<
      string,
      unknown
    >
    const events = bad.events as Record<string, unknown>[]
    events[0] = {
      ...events[0],
      eventTimestamp: '2026-03-02 15:04:05',
      bogus: 1,
      consent: { adUserData: 'GRANTED' },
    }
    delete bad.destinations
    assert.deepEqual(checkMessage(ROOT, REQUEST, bad), [
      'events[0].eventTimestamp: expected an RFC 3339 timestamp',
      'events[0].consent.adUserData: "GRANTED" is not a value of google.ads.datamanager.v1.ConsentStatus',
      'events[0].bogus: unknown field of google.ads.datamanager.v1.Event',
      'destinations: required',
    ])
  })
})

describe('data manager error classification', () => {
  const body = (status: string, reason: string, fields: string[] = []) =>
    JSON.stringify({
      error: {
        code: 400,
        message: 'There was a problem with the request.',
        status,
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason,
            domain: 'datamanager.googleapis.com',
          },
          {
            '@type': 'type.googleapis.com/google.rpc.BadRequest',
            fieldViolations: fields.map((field) => ({ field, description: 'bad', reason })),
          },
        ],
      },
    })
  test('field errors pinpoint events', () => {
    const c = classifyDmError(
      400,
      body('INVALID_ARGUMENT', 'INVALID_CURRENCY_CODE', ['events[3].currency', 'events[1].currency']),
    )
    assert.equal(c.kind, 'permanent')
    assert.equal(c.code, 'GOOGLE_DM_INVALID_CURRENCY_CODE')
    assert.deepEqual(c.eventIndexes, [1, 3])
  })
  test('the table', () => {
    assert.equal(classifyDmError(429, body('RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED')).kind, 'throttled')
    assert.equal(classifyDmError(503, body('UNAVAILABLE', 'INTERNAL_ERROR')).kind, 'retry')
    assert.equal(classifyDmError(403, body('PERMISSION_DENIED', 'PERMISSION_DENIED')).kind, 'paused')
    assert.equal(
      classifyDmError(400, body('INVALID_ARGUMENT', 'TERMS_AND_CONDITIONS_NOT_SIGNED')).kind,
      'paused',
    )
    assert.equal(
      classifyDmError(400, body('INVALID_ARGUMENT', 'INVALID_CONVERSION_ACTION_ID')).kind,
      'paused',
    )
    assert.equal(classifyDmError(401, body('UNAUTHENTICATED', 'ACCESS_TOKEN_EXPIRED')).unauthenticated, true)
    assert.equal(classifyDmError(400, 'not json').kind, 'permanent')
  })
})

describe('google_data_manager against the mock API', () => {
  let oauth: MockTokenServer
  let dm: MockDataManager
  const http = createHttpClient({ allowPrivate: true })
  const ctx = (testMode = false) => ({ http, testMode, now: () => Date.now(), log: silentLog })
  const destination = (over: { base_url?: string } = {}) =>
    googleDataManagerDestination.create('google', {
      ...baseConfig,
      base_url: over.base_url ?? dm.url,
      token_url: oauth.url,
      allow_private: true,
    } as GoogleDataManagerConfig & { type: string })

  before(async () => {
    oauth = await startMockTokenServer({ clients: [client] })
    dm = await startMockDataManager({
      tokens: oauth,
      conversionActions: ['111', '222', '333', '444'],
      operatingAccountId: '1234567890',
    })
  })
  after(async () => {
    await http.close()
    await dm.close()
    await oauth.close()
  })

  test('a mixed batch is delivered in one request with one destination per conversion action', async () => {
    const d = destination()
    const jobs = [
      job(signal()),
      job(callOnly({ id: 'sig-2', name: 'qualified_call' })),
      job(leadOnly({ id: 'sig-3' })),
      job(signal({ id: 'sig-4', name: 'follow_up' })),
    ]
    const before = dm.received.length
    const outcomes = await d.send(jobs, ctx())
    assert.deepEqual(
      outcomes.map((o) => [o.kind, o.code]),
      [
        ['delivered', 'GOOGLE_DM_ACCEPTED'],
        ['delivered', 'GOOGLE_DM_ACCEPTED'],
        ['delivered', 'GOOGLE_DM_ACCEPTED'],
        ['permanent', 'GOOGLE_NOT_A_CONVERSION'],
      ],
    )
    assert.match(outcomes[0].message ?? '', /^requestId [0-9a-f-]{36}$/)
    assert.equal(dm.received.length - before, 1)
    const req = dm.received.at(-1)
    const body = req?.body as { destinations: { productDestinationId: string }[] }
    assert.deepEqual(
      body.destinations.map((x) => x.productDestinationId),
      ['111', '222', '444'],
    )
    assert.equal(dm.events.get('111/sig-1')?.event.transactionId, 'sig-1')
    assert.equal(dm.events.get('222/sig-2')?.event.eventSource, 'PHONE')
    // the token is in the request, and redacted from the recorded exchange
    assert.match(String(req?.headers.authorization), /^Bearer ya29\.mock-/)
    assert.equal(outcomes[0].exchange?.headers.authorization, '[redacted]')
    assert.ok(!JSON.stringify(outcomes[0].exchange).includes('ya29.mock-'))
  })

  test('match keys: each outcome names what its event gave Google, a dead-lettered one’s too', async () => {
    const denied = { pii: false, adUserData: 'denied', adPersonalization: 'denied' } as const
    const outcomes = await destination().send(
      [
        job(signal({ id: 'mk-1' })),
        job(callOnly({ id: 'mk-2', name: 'qualified_call' })),
        job(leadOnly({ id: 'mk-3' })),
        job(signal({ id: 'mk-4', consent: denied })),
        job(signal({ id: 'mk-5', currency: 'dollars', event: { ext: { click_ids: { wbraid: 'wb' } } } })),
        job(signal({ id: 'mk-6', name: 'follow_up' })),
      ],
      ctx(),
    )
    assert.deepEqual(
      outcomes.map((o) => [o.kind, o.matchKeys]),
      [
        ['delivered', ['email', 'gclid', 'phone']],
        ['delivered', ['phone']],
        ['delivered', ['email']],
        ['delivered', ['gclid']],
        ['permanent', ['email', 'phone', 'wbraid']],
        ['permanent', undefined],
      ],
    )
    assert.equal(outcomes[4].code, 'GOOGLE_DM_INVALID_CURRENCY_CODE')
    assert.equal(dm.events.get('111/mk-4')?.event.userData, undefined)
  })

  test('a repeat of a transactionId is recorded as an adjustment, not a new conversion', async () => {
    const d = destination()
    await d.send([job(signal({ id: 'sig-rep' }))], ctx())
    await d.send([job(signal({ id: 'sig-rep', value: 30 }))], ctx())
    assert.equal(dm.events.get('111/sig-rep')?.adjustments, 1)
  })

  test('test mode sends validateOnly and stores nothing', async () => {
    const outcomes = await destination().send([job(signal({ id: 'sig-validate' }))], ctx(true))
    assert.equal(outcomes[0].code, 'GOOGLE_DM_VALIDATED')
    assert.equal((dm.received.at(-1)?.body as { validateOnly?: boolean } | undefined)?.validateOnly, true)
    assert.equal(dm.events.has('111/sig-validate'), false)
  })

  test('fast-fail: the pinpointed event is dead-lettered, the rest re-sent once', async () => {
    const before = dm.received.length
    const outcomes = await destination().send(
      [
        job(signal({ id: 'ff-1' })),
        job(signal({ id: 'ff-2', currency: 'dollars' })),
        job(signal({ id: 'ff-3' })),
      ],
      ctx(),
    )
    assert.deepEqual(
      outcomes.map((o) => o.kind),
      ['delivered', 'permanent', 'delivered'],
    )
    assert.equal(outcomes[1].code, 'GOOGLE_DM_INVALID_CURRENCY_CODE')
    assert.match(outcomes[1].message ?? '', /events\[1\]\.currency/)
    assert.deepEqual(
      dm.received.slice(before).map((r) => r.status),
      [400, 200],
    )
    assert.ok(dm.events.has('111/ff-3') && !dm.events.has('111/ff-2'))
  })

  test('fast-fail naming one bad event at a time: each is dead-lettered, every good event still delivered', async () => {
    const first = await startMockDataManager({
      tokens: oauth,
      conversionActions: ['111'],
      operatingAccountId: '1234567890',
      violations: 'first',
    })
    try {
      const outcomes = await destination({ base_url: first.url }).send(
        [
          job(signal({ id: 'f1-1' })),
          job(signal({ id: 'f1-2', currency: 'dollars' })),
          job(signal({ id: 'f1-3' })),
          job(signal({ id: 'f1-4', currency: 'euros' })),
          job(signal({ id: 'f1-5' })),
        ],
        ctx(),
      )
      assert.deepEqual(
        outcomes.map((o) => o.kind),
        ['delivered', 'permanent', 'delivered', 'permanent', 'delivered'],
      )
      assert.deepEqual(
        first.received.map((r) => r.status),
        [400, 400, 200],
      )
    } finally {
      await first.close()
    }
  })

  test('throttling, outages and permission errors', async () => {
    const d = destination()
    dm.failNext(1, 'throttle')
    const [throttled] = await d.send([job(signal({ id: 'x-1' }))], ctx())
    assert.equal(throttled.kind, 'throttled')
    assert.equal(throttled.retryAfterMs, 30_000)
    dm.failNext(1, 'unavailable')
    assert.equal((await d.send([job(signal({ id: 'x-2' }))], ctx()))[0].kind, 'retry')
    dm.failNext(1, 'permission')
    const [denied] = await d.send([job(signal({ id: 'x-3' }))], ctx())
    assert.deepEqual([denied.kind, denied.code], ['paused', 'GOOGLE_DM_PERMISSION_DENIED'])
  })

  test('an unknown conversion action pauses the destination', async () => {
    const d = googleDataManagerDestination.create('google', {
      ...baseConfig,
      conversions: { call_connected: '999' },
      base_url: dm.url,
      token_url: oauth.url,
    } as GoogleDataManagerConfig & { type: string })
    const [o] = await d.send([job(signal({ id: 'x-4' }))], ctx())
    assert.deepEqual([o.kind, o.code], ['paused', 'GOOGLE_DM_INVALID_CONVERSION_ACTION_ID'])
  })

  test('an expired access token is refreshed once and the request repeated', async () => {
    const d = destination()
    await d.send([job(signal({ id: 'tok-1' }))], ctx())
    oauth.expireAll()
    const tokenRequests = oauth.requests.length
    const [o] = await d.send([job(signal({ id: 'tok-2' }))], ctx())
    assert.equal(o.kind, 'delivered')
    assert.equal(oauth.requests.length - tokenRequests, 1)
  })

  test('more than 2,000 jobs are split into requests of at most 2,000 events', async () => {
    const before = dm.received.length
    const jobs = Array.from({ length: 2001 }, (_, i) => job(signal({ id: `bulk-${i}` })))
    const outcomes = await destination().send(jobs, ctx())
    assert.ok(outcomes.every((o) => o.kind === 'delivered'))
    const sizes = dm.received.slice(before).map((r) => (r.body as { events: unknown[] }).events.length)
    assert.deepEqual(sizes, [2000, 1])
  })

  test('a revoked grant pauses every job without calling the API', async () => {
    const revokedOauth = await startMockTokenServer({ clients: [client] })
    revokedOauth.revokeAll()
    try {
      const d = googleDataManagerDestination.create('google', {
        ...baseConfig,
        base_url: dm.url,
        token_url: revokedOauth.url,
      } as GoogleDataManagerConfig & { type: string })
      const before = dm.received.length
      const outcomes = await d.send([job(signal()), job(signal({ id: 'sig-2' }))], ctx())
      assert.deepEqual(
        outcomes.map((o) => [o.kind, o.code]),
        [
          ['paused', 'GOOGLE_OAUTH_INVALID_GRANT'],
          ['paused', 'GOOGLE_OAUTH_INVALID_GRANT'],
        ],
      )
      assert.equal(dm.received.length, before)
    } finally {
      await revokedOauth.close()
    }
  })

  test('the mock rejects bodies the proto does not allow, Google-style', async () => {
    const tokenRes = await http.request({
      method: 'POST',
      url: oauth.url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: client.clientId,
        client_secret: client.clientSecret,
        refresh_token: client.refreshToken,
      }).toString(),
      timeoutMs: 5000,
    })
    const token = JSON.parse(tokenRes.body).access_token as string
    const res = await http.request({
      method: 'POST',
      url: `${dm.url}/v1/events:ingest`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ destinations: [], events: [{ event_timestamp: '2026-01-01T00:00:00Z' }] }),
      timeoutMs: 5000,
    })
    assert.equal(res.status, 400)
    const error = JSON.parse(res.body).error
    assert.equal(error.status, 'INVALID_ARGUMENT')
    const fields = error.details[1].fieldViolations.map((v: { field: string }) => v.field)
    assert.deepEqual(fields, ['events[0].event_timestamp', 'events[0].event_timestamp', 'destinations'])
  })
})
