import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sha256Hex } from '../../identity/hash.ts'
import { type MockTokenServer, startMockTokenServer } from '../google/mock-token-server.ts'
import { checkMessage, loadProtoRoot } from '../google/proto-json.ts'
import { callOnly, job, leadOnly, signal, silentLog, T0 } from '../google/test-signals.ts'
import { createHttpClient } from '../http.ts'
import { classifyAdsError, rowClasses, TOO_RECENT_DELAY_MS } from './errors.ts'
import { adsSettings, GOOGLE_ADS_API_VERSION, type GoogleAdsConfig, googleAdsDestination } from './index.ts'
import { MOCK_ADS_VERSION, type MockGoogleAds, startMockGoogleAds } from './mock-server.ts'
import { adsDateTime, buildAdsRow, type ClickConversion, matchKeysOf, uploadBody } from './payload.ts'

const ROOT = loadProtoRoot('google-ads-node')
const V = MOCK_ADS_VERSION
const client = { clientId: 'ads-cid', clientSecret: 'GOCSPX-ads-secret', refreshToken: '1//ads-refresh' }
const DEV_TOKEN = 'dev-token-abc123'
const baseConfig = {
  type: 'google_ads',
  developer_token: DEV_TOKEN,
  customer_id: '123-456-7890',
  login_customer_id: '999-888-7777',
  time_zone: 'America/New_York',
  conversions: {
    call_connected: '111',
    qualified_call: '222',
    'disposition:*': '333',
    generate_lead: '444',
    correction: '333',
  },
  client_id: client.clientId,
  client_secret: client.clientSecret,
  refresh_token: client.refreshToken,
}
const settings = adsSettings(baseConfig as GoogleAdsConfig)
const row = (s = signal()) => {
  const r = buildAdsRow(s, settings)
  assert.ok(r.ok, JSON.stringify(r))
  return r
}

describe('google ads payload', () => {
  test('the installed protos are the API version the destination defaults to', () => {
    assert.equal(GOOGLE_ADS_API_VERSION, V)
  })

  test('date-time: yyyy-mm-dd hh:mm:ss±hh:mm in the account time zone, from the instant', () => {
    assert.equal(
      adsDateTime(Date.parse('2021-06-10T18:08:04.123Z') / 1000, 'UTC'),
      '2021-06-10 18:08:04+00:00',
    )
    assert.equal(
      adsDateTime(Date.parse('2025-03-11T19:03:56.616Z') / 1000, 'UTC'),
      '2025-03-11 19:03:56+00:00',
    )
    assert.equal(
      adsDateTime(Date.parse('2019-10-14T11:15:18Z') / 1000, 'Asia/Kolkata'),
      '2019-10-14 16:45:18+05:30',
    )
    assert.equal(adsDateTime(T0, 'America/New_York'), '2026-03-02 10:04:05-05:00')
    assert.equal(
      adsDateTime(Date.parse('2026-07-01T03:00:00Z') / 1000, 'America/New_York'),
      '2026-06-30 23:00:00-04:00',
    )
  })

  test('click conversion: every field, valid against the proto', () => {
    const r = row()
    assert.equal(r.endpoint, 'click')
    assert.deepEqual(r.row, {
      gclid: 'Cj0KCQiA-gclid',
      conversionAction: 'customers/1234567890/conversionActions/111',
      conversionDateTime: '2026-03-02 10:04:05-05:00',
      conversionValue: 25,
      currencyCode: 'USD',
      orderId: 'sig-1',
      consent: { adUserData: 'GRANTED', adPersonalization: 'GRANTED' },
      userIdentifiers: [
        { userIdentifierSource: 'FIRST_PARTY', hashedEmail: sha256Hex('janedoe@gmail.com') },
        { userIdentifierSource: 'FIRST_PARTY', hashedPhoneNumber: sha256Hex('+12125550000') },
      ],
    } satisfies ClickConversion)
    const body = uploadBody('click', [r.row], false)
    assert.deepEqual(
      checkMessage(ROOT, `google.ads.googleads.${V}.services.UploadClickConversionsRequest`, body, [
        'customer_id',
      ]),
      [],
    )
  })

  test('a click older than 90 days is not sent: the conversion goes by the caller or hashed PII, or not at all', () => {
    const clickedDaysAgo = (days: number, ext: Record<string, unknown>, userData = {}) =>
      signal({
        event: {
          user_data: userData,
          ext: { ...ext, click_ids: { gclid: 'Cj0-old', clicked_at: (T0 - days * 86_400) * 1000 } },
        },
      })
    const call = { call: { call_id: 'CA1', caller: '+12125550000', started_at: T0 - 30 } }
    // within the window: a click conversion
    assert.equal((row(clickedDaysAgo(89, call)).row as ClickConversion).gclid, 'Cj0-old')
    // past it: a call conversion by the caller
    const byCall = row(clickedDaysAgo(91, call))
    assert.equal(byCall.endpoint, 'call')
    assert.equal('gclid' in byCall.row, false)
    // no caller: hashed PII alone (enhanced conversions for leads)
    const byLead = row(clickedDaysAgo(120, {}, { email_address: 'lead@example.com' }))
    assert.ok(byLead.endpoint === 'click' && byLead.lead)
    assert.equal((byLead.row as ClickConversion).gclid, undefined)
    // nothing else: refused before any request, saying why
    assert.deepEqual(buildAdsRow(clickedDaysAgo(120, {}), settings), {
      ok: false,
      code: 'GOOGLE_ADS_CLICK_EXPIRED',
      message:
        'the click is 120 days older than the conversion; Google attributes clicks for at most 90 days',
    })
  })

  test('call conversion: plain E.164 caller id and call start', () => {
    const r = row(callOnly({ name: 'qualified_call', occurredAt: T0 + 120 }))
    assert.equal(r.endpoint, 'call')
    assert.deepEqual(r.row, {
      callerId: '+12125550000',
      callStartDateTime: '2026-03-02 10:03:35-05:00',
      conversionAction: 'customers/1234567890/conversionActions/222',
      conversionDateTime: '2026-03-02 10:06:05-05:00',
      conversionValue: 25,
      currencyCode: 'USD',
      consent: { adUserData: 'GRANTED', adPersonalization: 'GRANTED' },
    })
    assert.deepEqual(
      checkMessage(
        ROOT,
        `google.ads.googleads.${V}.services.UploadCallConversionsRequest`,
        uploadBody('call', [r.row], true),
        ['customer_id'],
      ),
      [],
    )
  })

  test('hashed PII only: enhanced conversion for leads through uploadClickConversions, with orderId', () => {
    const r = row(leadOnly())
    assert.ok(r.endpoint === 'click' && r.lead)
    assert.equal((r.row as ClickConversion).gclid, undefined)
    assert.deepEqual((r.row as ClickConversion).userIdentifiers, [
      { userIdentifierSource: 'FIRST_PARTY', hashedEmail: sha256Hex('lead@example.com') },
    ])
    assert.equal((r.row as ClickConversion).orderId, 'sig-1')
  })

  test('at most 5 identifiers; a braid-only conversion carries none; no consent, no PII', () => {
    const many = row(
      signal({
        event: {
          user_data: {
            email_address: ['a@x.co', 'b@x.co', 'c@x.co'],
            phone_numbers: ['+12125550001', '+12125550002'],
          },
        },
      }),
    )
    assert.equal((many.row as ClickConversion).userIdentifiers?.length, 5)
    const braid = row(signal({ event: { ext: { click_ids: { wbraid: 'wb-1' } } } }))
    assert.deepEqual(
      [(braid.row as ClickConversion).wbraid, (braid.row as ClickConversion).userIdentifiers],
      ['wb-1', undefined],
    )
    const denied = row(
      signal({ consent: { pii: false, adUserData: 'denied', adPersonalization: 'unspecified' } }),
    )
    assert.equal((denied.row as ClickConversion).userIdentifiers, undefined)
    assert.deepEqual((denied.row as ClickConversion).consent, {
      adUserData: 'DENIED',
      adPersonalization: 'UNSPECIFIED',
    })
    const call = buildAdsRow(callOnly({ consent: { pii: false } }), settings)
    assert.equal(call.ok ? 'ok' : call.code, 'GOOGLE_NO_IDENTIFIERS')
  })

  test('match keys: click id and hashed email / phone with consent; a call conversion’s caller id', () => {
    const keys = (r: ReturnType<typeof row>) => {
      assert.ok(r.endpoint !== 'adjustment')
      return matchKeysOf(r.row)
    }
    assert.deepEqual(keys(row()), ['email', 'gclid', 'phone'])
    assert.deepEqual(keys(row(callOnly({ name: 'qualified_call' }))), ['caller_id'])
    assert.deepEqual(keys(row(leadOnly())), ['email'])
  })

  test('match keys: without PII consent only the click id; a braid alone; nothing matchable → []', () => {
    const denied = { pii: false, adUserData: 'denied', adPersonalization: 'denied' } as const
    const clickOnly = row(signal({ consent: denied }))
    assert.ok(clickOnly.endpoint === 'click')
    assert.deepEqual(matchKeysOf(clickOnly.row), ['gclid'])
    const braid = row(signal({ event: { ext: { click_ids: { gbraid: 'gb-1' } } } }))
    assert.ok(braid.endpoint === 'click')
    assert.deepEqual(matchKeysOf(braid.row), ['gbraid'])
    const { gclid: _, userIdentifiers: __, ...bare } = clickOnly.row
    assert.deepEqual(matchKeysOf(bare), [])
  })

  test('a correction of a call conversion (no click id, no orderId to adjust by) is refused with why', () => {
    const s = callOnly({ name: 'correction', attrs: { corrects: 'sig-2', adjustment: 'retract' } })
    const refused = buildAdsRow(s, settings)
    assert.deepEqual(
      [refused.ok, (refused as { code?: string }).code],
      [false, 'GOOGLE_ADS_CALL_CORRECTION_UNSUPPORTED'],
    )
  })

  test('corrections become adjustments by orderId', () => {
    const retract = row(signal({ name: 'correction', attrs: { corrects: 'sig-1', adjustment: 'retract' } }))
    assert.deepEqual(retract, {
      ok: true,
      endpoint: 'adjustment',
      row: {
        conversionAction: 'customers/1234567890/conversionActions/333',
        adjustmentType: 'RETRACTION',
        adjustmentDateTime: '2026-03-02 10:04:05-05:00',
        orderId: 'sig-1',
      },
    })
    const restate = row(
      signal({
        name: 'correction',
        value: 80,
        attrs: { corrects: 'sig-1', adjustment: 'restate', corrects_name: 'call_connected' },
      }),
    )
    assert.equal(restate.endpoint, 'adjustment')
    assert.deepEqual((restate.row as { restatementValue?: unknown }).restatementValue, {
      adjustedValue: 80,
      currencyCode: 'USD',
    })
    assert.equal(
      (restate.row as { conversionAction: string }).conversionAction,
      'customers/1234567890/conversionActions/111',
    )
    assert.deepEqual(
      checkMessage(
        ROOT,
        `google.ads.googleads.${V}.services.UploadConversionAdjustmentsRequest`,
        uploadBody('adjustment', [retract.row, restate.row], false),
        ['customer_id'],
      ),
      [],
    )
  })
})

describe('google ads error table', () => {
  const e = (family: string, name: string) => classifyAdsError({ errorCode: { [family]: name } })
  test('classes', () => {
    for (const n of [
      'CLICK_CONVERSION_ALREADY_EXISTS',
      'CALL_CONVERSION_ALREADY_EXISTS',
      'ORDER_ID_ALREADY_IN_USE',
      'CLICK_NOT_FOUND',
    ])
      assert.equal(e('conversionUploadError', n).kind, 'delivered', n)
    for (const n of ['TOO_RECENT_EVENT', 'TOO_RECENT_CALL', 'TOO_RECENT_CONVERSION_ACTION']) {
      assert.equal(e('conversionUploadError', n).kind, 'retry')
      assert.equal(e('conversionUploadError', n).fixedDelayMs, TOO_RECENT_DELAY_MS)
    }
    assert.equal(TOO_RECENT_DELAY_MS, 21_600_000)
    assert.equal(e('conversionUploadError', 'EXPIRED_EVENT').kind, 'permanent')
    assert.equal(e('conversionUploadError', 'UNPARSEABLE_GCLID').kind, 'permanent')
    assert.equal(e('databaseError', 'CONCURRENT_MODIFICATION').kind, 'retry')
    assert.equal(e('quotaError', 'RESOURCE_EXHAUSTED').kind, 'throttled')
    assert.equal(e('conversionUploadError', 'NO_CONVERSION_ACTION_FOUND').kind, 'paused')
    assert.equal(e('notAllowlistedError', 'CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE').kind, 'paused')
    assert.equal(e('authorizationError', 'USER_PERMISSION_DENIED').kind, 'paused')
  })
  test('per-row mapping: worst class wins, unindexed errors hit every row, empty results are not trusted', () => {
    const failure = (errors: unknown[]) => ({
      code: 3,
      details: [{ '@type': `type.googleapis.com/google.ads.googleads.${V}.errors.GoogleAdsFailure`, errors }],
    })
    const at = (index: number, family: string, name: string) => ({
      errorCode: { [family]: name },
      location: { fieldPathElements: [{ fieldName: 'conversions', index }, { fieldName: 'gclid' }] },
    })
    const classes = rowClasses(
      4,
      {
        results: [{}, { gclid: 'ok' }, {}, {}],
        partialFailureError: failure([
          at(0, 'conversionUploadError', 'ORDER_ID_ALREADY_IN_USE'),
          at(0, 'conversionUploadError', 'EXPIRED_EVENT'),
          at(2, 'conversionUploadError', 'TOO_RECENT_EVENT'),
        ]),
      },
      'conversions',
      false,
    )
    assert.deepEqual(
      classes.map((c) => c?.code),
      ['GOOGLE_ADS_EXPIRED_EVENT', undefined, 'GOOGLE_ADS_TOO_RECENT_EVENT', 'GOOGLE_ADS_ROW_UNCONFIRMED'],
    )
    const global = rowClasses(
      2,
      { partialFailureError: failure([{ errorCode: { quotaError: 'RESOURCE_EXHAUSTED' } }]) },
      'conversions',
      true,
    )
    assert.deepEqual(
      global.map((c) => c?.kind),
      ['throttled', 'throttled'],
    )
  })
})

describe('google_ads against the mock API', () => {
  let oauth: MockTokenServer
  let ads: MockGoogleAds
  const http = createHttpClient({ allowPrivate: true })
  const ctx = (testMode = false) => ({ http, testMode, now: () => Date.now(), log: silentLog })
  const destination = (extra: Partial<GoogleAdsConfig> = {}) =>
    googleAdsDestination.create('google-ads', {
      ...baseConfig,
      ...extra,
      base_url: ads.url,
      token_url: oauth.url,
    } as GoogleAdsConfig & { type: string })

  before(async () => {
    oauth = await startMockTokenServer({ clients: [client] })
    ads = await startMockGoogleAds({
      tokens: oauth,
      developerToken: DEV_TOKEN,
      customerId: '1234567890',
      loginCustomerId: '9998887777',
      conversionActions: ['111', '222', '333', '444'],
      unknownCallers: ['+13125550199'],
    })
  })
  after(async () => {
    await http.close()
    await ads.close()
    await oauth.close()
  })

  test('click, call and lead conversions, then a retraction: one request per endpoint, all delivered', async () => {
    const before = ads.received.length
    const outcomes = await destination().send(
      [
        job(signal({ id: 'c-1', name: 'disposition:Sale' })),
        job(callOnly({ id: 'c-2', name: 'qualified_call' })),
        job(leadOnly({ id: 'c-3' })),
        job(signal({ id: 'c-4', name: 'correction', attrs: { corrects: 'c-1', adjustment: 'retract' } })),
        job(signal({ id: 'c-5', name: 'follow_up' })),
      ],
      ctx(),
    )
    assert.deepEqual(
      outcomes.map((o) => [o.kind, o.code]),
      [
        ['delivered', 'GOOGLE_ADS_UPLOADED'],
        ['delivered', 'GOOGLE_ADS_UPLOADED'],
        ['delivered', 'GOOGLE_ADS_UPLOADED'],
        ['delivered', 'GOOGLE_ADS_UPLOADED'],
        ['permanent', 'GOOGLE_NOT_A_CONVERSION'],
      ],
    )
    const reqs = ads.received.slice(before)
    assert.deepEqual(
      reqs.map((r) => [r.rpc, r.status]),
      [
        ['UploadClickConversions', 200],
        ['UploadCallConversions', 200],
        ['UploadConversionAdjustments', 200],
      ],
    )
    assert.equal(reqs[0].headers['developer-token'], DEV_TOKEN)
    assert.equal(reqs[0].headers['login-customer-id'], '9998887777')
    assert.equal((reqs[0].body as { partialFailure: boolean }).partialFailure, true)
    assert.deepEqual(ads.clicks.get('333|c-1')?.adjustments, ['RETRACTION'])
    // secrets never reach the attempt log
    const recorded = JSON.stringify(outcomes.slice(0, 4).map((o) => o.exchange))
    assert.ok(!recorded.includes(DEV_TOKEN) && !recorded.includes('ya29.mock-'), recorded)
    assert.match(outcomes[0].message ?? '', /^requestId /)
  })

  test('match keys: on every conversion row’s outcome, a rejected row’s too; none on an adjustment', async () => {
    const denied = { pii: false, adUserData: 'denied', adPersonalization: 'denied' } as const
    const outcomes = await destination().send(
      [
        job(signal({ id: 'mk-1' })),
        job(callOnly({ id: 'mk-2', name: 'qualified_call' })),
        job(leadOnly({ id: 'mk-3' })),
        job(signal({ id: 'mk-4', consent: denied })),
        job(signal({ id: 'mk-5', event: { ext: { click_ids: { gclid: 'expired-1' } } } })),
        job(
          signal({
            id: 'mk-6',
            name: 'correction',
            attrs: { corrects: 'mk-1', adjustment: 'retract', corrects_name: 'call_connected' },
          }),
        ),
        job(signal({ id: 'mk-7', name: 'follow_up' })),
      ],
      ctx(),
    )
    assert.deepEqual(
      outcomes.map((o) => [o.kind, o.matchKeys]),
      [
        ['delivered', ['email', 'gclid', 'phone']],
        ['delivered', ['caller_id']],
        ['delivered', ['email']],
        ['delivered', ['gclid']],
        ['permanent', ['email', 'gclid', 'phone']],
        ['delivered', undefined],
        ['permanent', undefined],
      ],
    )
    assert.equal(outcomes[4].code, 'GOOGLE_ADS_EXPIRED_EVENT')
  })

  test('partial failure: each row gets its own outcome by index', async () => {
    const outcomes = await destination().send(
      [
        job(signal({ id: 'p-1', event: { ext: { click_ids: { gclid: 'recent-1' } } } })),
        job(signal({ id: 'p-2' })),
        job(signal({ id: 'p-3', event: { ext: { click_ids: { gclid: 'expired-1' } } } })),
        job(signal({ id: 'p-4', event: { ext: { click_ids: { gclid: 'busy-1' } } } })),
        job(
          callOnly({
            id: 'p-5',
            event: { ext: { call: { call_id: 'CA9', caller: '+13125550199', started_at: T0 - 60 } } },
          }),
        ),
      ],
      ctx(),
    )
    assert.deepEqual(
      outcomes.map((o) => [o.kind, o.code, o.fixedDelayMs]),
      [
        ['retry', 'GOOGLE_ADS_TOO_RECENT_EVENT', TOO_RECENT_DELAY_MS],
        ['delivered', 'GOOGLE_ADS_UPLOADED', undefined],
        ['permanent', 'GOOGLE_ADS_EXPIRED_EVENT', undefined],
        ['retry', 'GOOGLE_ADS_CONCURRENT_MODIFICATION', undefined],
        ['permanent', 'GOOGLE_ADS_CALL_NOT_FOUND', undefined],
      ],
    )
    assert.match(outcomes[2].message ?? '', /requestId/)
    assert.ok(ads.clicks.has('111|p-2'))
  })

  test('a re-sent conversion answers ORDER_ID_ALREADY_IN_USE and counts as delivered', async () => {
    const d = destination()
    await d.send([job(signal({ id: 'dup-1' }))], ctx())
    const [again] = await d.send([job(signal({ id: 'dup-1' }))], ctx())
    assert.deepEqual([again.kind, again.code], ['delivered', 'GOOGLE_ADS_ORDER_ID_ALREADY_IN_USE'])
  })

  test('an unknown conversion action pauses the destination', async () => {
    const [o] = await destination({ conversions: { call_connected: '999' } }).send(
      [job(signal({ id: 'na-1' }))],
      ctx(),
    )
    assert.deepEqual([o.kind, o.code], ['paused', 'GOOGLE_ADS_NO_CONVERSION_ACTION_FOUND'])
  })

  test('test mode: validateOnly, nothing recorded', async () => {
    const [o] = await destination().send([job(signal({ id: 'v-1' }))], ctx(true))
    assert.deepEqual([o.kind, o.code], ['delivered', 'GOOGLE_ADS_VALIDATED'])
    assert.equal((ads.received.at(-1)?.body as { validateOnly?: boolean } | undefined)?.validateOnly, true)
    assert.equal(ads.clicks.has('111|v-1'), false)
  })

  test('quota, auth and allowlist failures', async () => {
    const d = destination()
    ads.failNext(1, 'quota')
    const [quota] = await d.send([job(signal({ id: 'q-1' }))], ctx())
    assert.deepEqual([quota.kind, quota.retryAfterMs], ['throttled', 60_000])
    ads.failNext(1, 'permission')
    assert.equal((await d.send([job(signal({ id: 'q-2' }))], ctx()))[0].kind, 'paused')
    ads.failNext(1, 'not_allowlisted')
    const [allow] = await d.send([job(signal({ id: 'q-3' }))], ctx())
    assert.deepEqual(
      [allow.kind, allow.code],
      ['paused', 'GOOGLE_ADS_CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE'],
    )
    const tokenRequests = oauth.requests.length
    ads.failNext(1, 'two_step')
    const [twoStep] = await d.send([job(signal({ id: 'q-4' }))], ctx())
    assert.deepEqual(
      [twoStep.kind, twoStep.code],
      ['paused', 'GOOGLE_ADS_TWO_STEP_VERIFICATION_NOT_ENROLLED'],
    )
    assert.equal(oauth.requests.length, tokenRequests, 'no token refresh for a 401 a new token cannot fix')
  })

  test('an expired token is refreshed once and the upload repeated', async () => {
    const d = destination()
    await d.send([job(signal({ id: 't-1' }))], ctx())
    oauth.expireAll()
    const [o] = await d.send([job(signal({ id: 't-2' }))], ctx())
    assert.equal(o.kind, 'delivered')
  })

  test('a wrong developer token or manager id is refused', async () => {
    const [dev] = await destination({ developer_token: 'wrong-token' }).send(
      [job(signal({ id: 'w-1' }))],
      ctx(),
    )
    assert.deepEqual([dev.kind, dev.code], ['paused', 'GOOGLE_ADS_DEVELOPER_TOKEN_INVALID'])
    const [mgr] = await destination({ login_customer_id: '111-222-3333' }).send(
      [job(signal({ id: 'w-2' }))],
      ctx(),
    )
    assert.deepEqual([mgr.kind, mgr.code], ['paused', 'GOOGLE_ADS_USER_PERMISSION_DENIED'])
  })
})
