import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sha256Hex } from '../../identity/hash.ts'
import { makeSignal, NOW_MS, NOW_S } from './fixtures.test.ts'
import {
  actionSourceFor,
  buildServerEvent,
  buildUserData,
  MAX_AGE_S,
  type MetaServerEvent,
  matchKeysOf,
  resolveEventName,
  validateServerEvent,
} from './payload.ts'

function built(...args: Parameters<typeof makeSignal>): MetaServerEvent {
  const r = buildServerEvent(makeSignal(...args), { nowMs: NOW_MS })
  assert.ok(r.ok, r.ok ? '' : `${r.code}: ${r.message}`)
  return r.event
}

describe('event names', () => {
  test('defaults for the closeloop signal vocabulary', () => {
    const expected: [string, string | undefined][] = [
      ['call_connected', 'Contact'],
      ['qualified_call', 'Lead'],
      ['disposition:Sale', 'Purchase'],
      ['disposition:Qualified Lead', 'Lead'],
      ['disposition:Appointment Set', 'Schedule'],
      ['closed_outcome', 'Purchase'],
      ['purchase', 'Purchase'],
      ['generate_lead', 'Lead'],
      ['sign_up', 'CompleteRegistration'],
      ['disposition:No Answer', undefined],
      ['disposition:Existing Customer', undefined],
      ['follow_up', undefined],
      ['correction', undefined],
    ]
    for (const [signal, name] of expected) assert.equal(resolveEventName(signal), name, signal)
  })
  test('configured map: exact beats glob, globs in order, "" suppresses, then defaults', () => {
    const events = { 'disposition:Sale': 'SubmitApplication', 'disposition:*': 'Lead', qualified_call: '' }
    assert.equal(resolveEventName('disposition:Sale', events), 'SubmitApplication')
    assert.equal(resolveEventName('disposition:Policy Bound', events), 'Lead')
    assert.equal(resolveEventName('qualified_call', events), undefined)
    assert.equal(resolveEventName('call_connected', events), 'Contact')
    assert.equal(resolveEventName('closed_outcome', { 'closed_*': 'Funded Loan' }), 'Funded Loan')
  })
  test('an ECAPI custom event uses its custom_event name', () => {
    assert.equal(resolveEventName('custom', {}, 'Policy Bound'), 'Policy Bound')
  })
  test('unmapped signal → META_SIGNAL_NOT_MAPPED, not sent', () => {
    const r = buildServerEvent(makeSignal({ name: 'disposition:No Answer' }), { nowMs: NOW_MS })
    assert.equal(r.ok, false)
    assert.equal(!r.ok && r.code, 'META_SIGNAL_NOT_MAPPED')
  })
})

describe('action_source', () => {
  test('calls are phone_call; CRM stages are system_generated; ECAPI keeps its source', () => {
    const s = makeSignal()
    assert.equal(actionSourceFor({ ...s, name: 'call_connected' }), 'phone_call')
    assert.equal(actionSourceFor({ ...s, name: 'disposition:Sale' }), 'phone_call')
    assert.equal(actionSourceFor({ ...s, name: 'closed_outcome' }), 'system_generated')
    assert.equal(actionSourceFor({ ...s, name: 'correction' }), 'system_generated')
    assert.equal(actionSourceFor({ name: 'purchase', event: { ...s.event, source: 'website' } }), 'website')
    assert.equal(
      actionSourceFor({ name: 'purchase', event: { ...s.event, source: undefined } }),
      'phone_call',
    )
    assert.equal(
      actionSourceFor({ name: 'purchase', event: { ...s.event, source: undefined, ext: {} } }),
      'other',
    )
  })
})

describe('server event', () => {
  test('a call_connected signal, in full', () => {
    const e = built({ id: 'sig-42' })
    assert.deepEqual(e, {
      event_name: 'Contact',
      event_time: NOW_S - 120,
      event_id: 'sig-42',
      action_source: 'phone_call',
      user_data: {
        em: [sha256Hex('person@example.com')],
        ph: [sha256Hex('15105550011')],
        fn: [sha256Hex('jane')],
        ln: [sha256Hex('oconnor')],
        ct: [sha256Hex('stlouis')],
        st: [sha256Hex('mo')],
        zp: [sha256Hex('63101')],
        country: [sha256Hex('us')],
        client_ip_address: '203.0.113.7',
        client_user_agent: 'Mozilla/5.0',
        fbc: `fb.1.${(NOW_S - 3600) * 1000}.IwAR2F-x_Yz`,
      },
    })
  })
  test('phones: raw national numbers get the US code, the caller joins, duplicates collapse', () => {
    const e = built({ event: { user_data: { phone_numbers: ['(510) 555-0011', '+44 20 7946 0958'] } } })
    assert.deepEqual(e.user_data.ph, [sha256Hex('15105550011'), sha256Hex('442079460958')])
  })
  test('already-hashed PII passes through untouched', () => {
    const h = sha256Hex('someone@example.com')
    const e = built({
      event: { user_data: { email_address: [h.toUpperCase()], customer_identifier: 'CRM-9' } },
    })
    assert.deepEqual(e.user_data.em, [h])
    assert.deepEqual(e.user_data.external_id, [sha256Hex('crm-9')])
  })
  test('value, currency and order id go to custom_data; currency is uppercased', () => {
    const e = built({
      name: 'disposition:Sale',
      value: 120.5,
      currency: 'usd',
      event: { properties: { transaction_id: 'ord-7' } },
    })
    assert.deepEqual(e.custom_data, { value: 120.5, currency: 'USD', order_id: 'ord-7' })
  })
  test('CRM stage with crm_name: system_generated + Conversion Leads fields', () => {
    const r = buildServerEvent(makeSignal({ name: 'closed_outcome', value: 900, currency: 'USD' }), {
      nowMs: NOW_MS,
      crmName: 'Salesforce',
    })
    assert.ok(r.ok)
    assert.equal(r.event.action_source, 'system_generated')
    assert.equal(r.event.custom_data?.event_source, 'crm')
    assert.equal(r.event.custom_data?.lead_event_source, 'Salesforce')
  })
  test('an existing fbc wins over fbclid; without click time, the event time builds it', () => {
    const withFbc = built({ event: { ext: { click_ids: { fbc: 'fb.1.1700000000000.abc', fbclid: 'zzz' } } } })
    assert.equal(withFbc.user_data.fbc, 'fb.1.1700000000000.abc')
    const noTime = built({ event: { ext: { click_ids: { fbclid: 'Zz9' }, call: { call_id: 'c' } } } })
    assert.equal(noTime.user_data.fbc, `fb.1.${(NOW_S - 120) * 1000}.Zz9`)
    const fbp = built({ event: { ext: { click_ids: { fbp: 'fb.1.1596403881668.1116446470' } } } })
    assert.equal(fbp.user_data.fbp, 'fb.1.1596403881668.1116446470')
  })
})

describe('consent', () => {
  test('no PII consent: no hashed keys and no IP; click ids and user agent remain', () => {
    const ud = buildUserData(makeSignal({ consent: { pii: false } }))
    assert.deepEqual(Object.keys(ud).sort(), ['client_user_agent', 'fbc'])
  })
  test('no PII consent and no click id: nothing to match on → META_NO_USER_DATA', () => {
    const r = buildServerEvent(
      makeSignal({ consent: { pii: false }, event: { user_data: { email_address: 'a@b.co' }, ext: {} } }),
      { nowMs: NOW_MS },
    )
    assert.equal(!r.ok && r.code, 'META_NO_USER_DATA')
  })
  test('LDU → data_processing_options LDU with country/state 0 (geolocate)', () => {
    const e = built({ consent: { ldu: true } })
    assert.deepEqual(e.data_processing_options, ['LDU'])
    assert.equal(e.data_processing_options_country, 0)
    assert.equal(e.data_processing_options_state, 0)
    assert.equal(built().data_processing_options, undefined)
  })
  test('mmtOnly consent or ECAPI mmt_only → opt_out true', () => {
    assert.equal(built({ consent: { mmtOnly: true } }).opt_out, true)
    assert.equal(built({ event: { user_data: { mmt_only: true, email_address: 'a@b.co' } } }).opt_out, true)
    assert.equal(built().opt_out, undefined)
  })
})

describe('match keys', () => {
  test('consented PII: every hashed key and fbc, sorted; not the IP or user agent', () => {
    assert.deepEqual(matchKeysOf(built()), ['country', 'ct', 'em', 'fbc', 'fn', 'ln', 'ph', 'st', 'zp'])
    const more = built({
      event: { user_data: { customer_identifier: 'CRM-9', gender: 'F', ext: { date_of_birth: '19900102' } } },
    })
    assert.deepEqual(matchKeysOf(more), ['db', 'external_id', 'fbc', 'ge', 'ph'])
  })
  test('no PII consent: only the click ids (fbc, fbp), with or without a user agent', () => {
    const clicks = built({
      consent: { pii: false },
      event: {
        user_data: { email_address: 'a@b.co', event_ip_address: '203.0.113.7' },
        ext: { click_ids: { fbclid: 'Zz9', fbp: 'fb.1.1596403881668.1116446470' } },
      },
    })
    assert.deepEqual(matchKeysOf(clicks), ['fbc', 'fbp'])
    assert.deepEqual(matchKeysOf(built({ consent: { pii: false } })), ['fbc'])
  })
  test('nothing to match on: []', () => {
    assert.deepEqual(matchKeysOf({ user_data: {} }), [])
    assert.deepEqual(matchKeysOf({ user_data: { em: [], fbc: '' } }), [])
  })
})

describe('pre-send validation', () => {
  const base = (): MetaServerEvent => built()
  test('event_time window: 7 days back, 60 s ahead', () => {
    assert.equal(validateServerEvent({ ...base(), event_time: NOW_S - MAX_AGE_S + 1 }, NOW_MS), undefined)
    assert.equal(
      validateServerEvent({ ...base(), event_time: NOW_S - MAX_AGE_S - 1 }, NOW_MS)?.code,
      'META_EVENT_TOO_OLD',
    )
    assert.equal(
      validateServerEvent({ ...base(), event_time: NOW_S + 61 }, NOW_MS)?.code,
      'META_EVENT_IN_FUTURE',
    )
    const store = { ...base(), action_source: 'physical_store', event_time: NOW_S - 30 * 86400 }
    assert.equal(validateServerEvent(store, NOW_MS), undefined)
  })
  test('Purchase needs value and currency', () => {
    const r = buildServerEvent(makeSignal({ name: 'disposition:Sale', value: 10 }), { nowMs: NOW_MS })
    assert.equal(!r.ok && r.code, 'META_PURCHASE_VALUE_MISSING')
  })
  test('currency must be ISO 4217', () => {
    const r = buildServerEvent(makeSignal({ value: 1, currency: 'dollars' }), { nowMs: NOW_MS })
    assert.equal(!r.ok && r.code, 'META_CURRENCY_INVALID')
  })
  test('website events need a page URL and a user agent', () => {
    const r = buildServerEvent(makeSignal({ name: 'generate_lead', event: { source: 'website' } }), {
      nowMs: NOW_MS,
    })
    assert.equal(!r.ok && r.code, 'META_WEBSITE_FIELDS_MISSING')
  })
})
