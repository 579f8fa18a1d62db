/**
 * ECAPI normalization against every official vector (ecapi.md §8), and the pure payload builder: mapping,
 * consent, click ids, ext, validation. Every built event is also checked against closeloop's own schema.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sha256Hex } from '../../identity/hash.ts'
import { EcapiEvent } from '../../model/ecapi.ts'
import { validator } from '../../model/validate.ts'
import { signal, T0 } from './fixtures.test.ts'
import {
  ecapiCountry,
  ecapiCustomerIdHash,
  ecapiEmailHash,
  ecapiGenderHash,
  ecapiNameHash,
  ecapiPhoneHash,
  ecapiPlain,
  ecapiPostalCodeHash,
  normalizeEcapiGender,
  normalizeEcapiLower,
  normalizeEcapiName,
  normalizeEcapiPhone,
  normalizeEcapiPostalCode,
} from './normalize.ts'
import { buildEcapiEvent, matchKeysOf, parseEventType, requestBody, resolveEventType } from './payload.ts'

const checkSchema = validator(EcapiEvent)

describe('ECAPI official normalization vectors (examples.md, ecapi.md §8)', () => {
  const vectors: Array<
    [string, (raw: string) => string | undefined, (raw: string) => string, string, string, string]
  > = [
    [
      'customer_identifier',
      ecapiCustomerIdHash,
      normalizeEcapiLower,
      'User123',
      'user123',
      'e606e38b0d8c19b24cf0ee3808183162ea7cd63ff7912dbb22b5e803286b4446',
    ],
    [
      'email_address',
      ecapiEmailHash,
      normalizeEcapiLower,
      ' User@example.com ',
      'user@example.com',
      'b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514',
    ],
    [
      'phone_numbers',
      ecapiPhoneHash,
      normalizeEcapiPhone,
      '+1 212-555-0000',
      '+12125550000',
      '7c8d08bf90ca322bcac37f99ba14e980e4b1f5ba919f7e16a030af9070ba125e',
    ],
    [
      'address.first_name',
      ecapiNameHash,
      normalizeEcapiName,
      ' Jane ',
      'jane',
      '81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2',
    ],
    [
      'address.last_name',
      ecapiNameHash,
      normalizeEcapiName,
      ' Smith ',
      'smith',
      '6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd',
    ],
    [
      'gender',
      ecapiGenderHash,
      normalizeEcapiGender,
      ' Female ',
      'female',
      '9f165139a8c2894a47aea23b77d330eca847264224a44d5a17b19db8b9a72c08',
    ],
  ]
  for (const [field, hash, normalize, raw, normalized, digest] of vectors)
    test(`${field}: ${JSON.stringify(raw)} → ${normalized}`, () => {
      assert.equal(normalize(raw.trim()), normalized)
      assert.equal(hash(raw), digest)
    })

  test('hashes found in the examples file: postal code 10001, last name doe', () => {
    assert.equal(
      ecapiPostalCodeHash('10001'),
      'e443169117a184f91186b401133b20be670c7c0896f9886075e5d9b81e9d076b',
    )
    assert.equal(ecapiNameHash('Doe'), '799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f')
    // the full-payload example hashes country_code "us", contrary to the spec: closeloop sends it plain
    assert.equal(ecapiCountry('US'), 'us')
  })
})

describe('ECAPI normalization beyond the vectors', () => {
  test('phone: national numbers get the region’s country code, the + is kept', () => {
    assert.equal(normalizeEcapiPhone('(212) 555-0000'), '+12125550000')
    assert.equal(normalizeEcapiPhone('020 7946 0958', 'GB'), '+442079460958')
    assert.equal(normalizeEcapiPhone('0044 20 7946 0958'), '+442079460958')
    assert.equal(normalizeEcapiPhone('555'), '')
    assert.equal(ecapiPhoneHash('anonymous'), undefined)
  })
  test('gender: abbreviations spelled out; names lose punctuation', () => {
    assert.equal(normalizeEcapiGender('F'), 'female')
    assert.equal(normalizeEcapiGender('m'), 'male')
    assert.equal(normalizeEcapiName(" O'Connor "), 'oconnor')
    assert.equal(normalizeEcapiName('José  María'), 'josé maría')
  })
  test('postal code: US ZIP+4 → ZIP, UK postcode → sector', () => {
    assert.equal(normalizeEcapiPostalCode('10001-1234', 'us'), '10001')
    assert.equal(normalizeEcapiPostalCode('SW1A 1AA', 'gb'), 'sw1a 1')
    assert.equal(normalizeEcapiPostalCode('M5V 2T6', 'ca'), 'm5v 2t6')
  })
  test('plain fields: lowercase, no punctuation, inner space kept; hashes dropped', () => {
    assert.equal(ecapiPlain(' New York '), 'new york')
    assert.equal(ecapiPlain('St. Louis'), 'st louis')
    assert.equal(ecapiPlain('NY'), 'ny')
    assert.equal(ecapiPlain(sha256Hex('ny')), undefined)
    assert.equal(ecapiCountry('United States'), 'us')
  })
  test('already-hashed values pass through lowercased', () => {
    const h = sha256Hex('user@example.com')
    assert.equal(ecapiEmailHash(h.toUpperCase()), h)
  })
})

describe('event type mapping', () => {
  const cases: Array<[string, string | undefined]> = [
    ['call_connected', 'contact'],
    ['qualified_call', 'qualify_lead'],
    ['disposition:Sale', 'close_convert_lead'],
    ['disposition:Qualified Lead', 'qualify_lead'],
    ['disposition:Appointment Set', 'schedule'],
    ['closed_outcome', 'close_convert_lead'],
    ['disposition:No Answer', undefined],
    ['follow_up', undefined],
    ['correction', undefined],
  ]
  for (const [name, expected] of cases)
    test(`${name} → ${expected ?? 'not sent'}`, () => {
      assert.equal(resolveEventType(signal({ name }))?.event_type, expected)
    })

  test('plain ECAPI ingest keeps its own type, custom keeps its name', () => {
    assert.deepEqual(resolveEventType(signal({ name: 'purchase', event: { event_type: 'purchase' } })), {
      event_type: 'purchase',
    })
    assert.deepEqual(
      resolveEventType(
        signal({ name: 'custom:quote', event: { event_type: 'custom', custom_event: 'quote' } }),
      ),
      { event_type: 'custom', custom_event: 'quote' },
    )
  })

  test('configured map: exact, glob, custom:<name>, "" = never', () => {
    const map = {
      'disposition:Sale': 'purchase',
      'disposition:*': 'custom:agent_disposition',
      qualified_call: '',
    }
    assert.equal(resolveEventType(signal({ name: 'disposition:Sale' }), map)?.event_type, 'purchase')
    assert.deepEqual(resolveEventType(signal({ name: 'disposition:Callback' }), map), {
      event_type: 'custom',
      custom_event: 'agent_disposition',
    })
    assert.equal(resolveEventType(signal({ name: 'qualified_call' }), map), undefined)
    assert.equal(parseEventType('not_a_type'), undefined)
    assert.equal(parseEventType('custom'), undefined)
  })
})

describe('buildEcapiEvent', () => {
  test('a consented call: ECAPI hashes, plain address parts, caller joins phones, schema-valid', () => {
    const built = buildEcapiEvent(signal({ name: 'disposition:Sale', value: 120, currency: 'usd' }), {
      clickIdFrom: 'gclid',
    })
    assert.ok(built.ok)
    const e = built.event
    assert.equal(e.id, 'sig-1')
    assert.equal(e.data_set_id, 'acme')
    assert.equal(e.timestamp, T0)
    assert.equal(e.event_type, 'close_convert_lead')
    assert.equal(e.source, 'phone_call')
    assert.equal(e.value, 120)
    assert.equal(e.currency_code, 'USD')
    const ud = e.user_data!
    assert.equal(ud.email_address, sha256Hex('user@example.com'))
    assert.deepEqual(ud.phone_numbers, [sha256Hex('+12125550000'), sha256Hex('+16465550199')])
    assert.equal(ud.customer_identifier, sha256Hex('user123'))
    assert.equal(ud.gender, sha256Hex('female'))
    assert.deepEqual(ud.address, {
      first_name: sha256Hex('jane'),
      last_name: sha256Hex('smith'),
      city: 'new york',
      state: 'ny',
      country_code: 'us',
      postal_code: sha256Hex('10001'),
    })
    assert.equal(ud.click_id, 'Cj0-gclid')
    assert.equal(ud.event_ip_address, '203.0.113.7')
    assert.equal(ud.gpp_string?.slice(0, 6), 'DBABMA')
    assert.deepEqual(e.ext, {
      closeloop: { signal: 'disposition:Sale', call_id: 'CA1', campaign: 'mortgage-ny', duration_s: 200 },
    })
    assert.ok(!JSON.stringify(e).includes('646'), 'raw caller number must not leave')
    assert.deepEqual(checkSchema(e), [])
  })

  test('no PII consent: no hashed PII, no IP; consent signals, click id and user agent stay', () => {
    const built = buildEcapiEvent(signal({ consent: { pii: false } }), { clickIdFrom: 'ttclid' })
    assert.ok(built.ok)
    assert.deepEqual(built.event.user_data, {
      event_user_agent: 'Mozilla/5.0',
      gpp_string: 'DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA',
      gpp_sid: [2],
      click_id: 'E.C.P.tt',
    })
  })

  test('mmt_only from consent; data_set_id override; click_id from each source', () => {
    const built = buildEcapiEvent(signal({ consent: { mmtOnly: true } }), {
      dataSetId: 'partner-ds',
      clickIdFrom: 'msclkid',
    })
    assert.ok(built.ok)
    assert.equal(built.event.data_set_id, 'partner-ds')
    assert.equal(built.event.user_data?.mmt_only, true)
    assert.equal(built.event.user_data?.click_id, 'ms-1')
    for (const [from, id] of [
      ['fbclid', 'IwAR-fb'],
      ['gclid', 'Cj0-gclid'],
    ] as const) {
      const b = buildEcapiEvent(signal(), { clickIdFrom: from })
      assert.ok(b.ok)
      assert.equal(b.event.user_data?.click_id, id)
    }
    // without click_id_from the event's own click_id passes through
    const own = buildEcapiEvent(
      signal({ event: { user_data: { click_id: 'own' }, ext: { click_ids: { gclid: 'g' } } } }),
    )
    assert.ok(own.ok)
    assert.equal(own.event.user_data?.click_id, 'own')
  })

  test('permanent reasons: unmapped, value without currency', () => {
    const unmapped = buildEcapiEvent(signal({ name: 'follow_up' }))
    assert.ok(!unmapped.ok)
    assert.equal(unmapped.code, 'ECAPI_SIGNAL_NOT_MAPPED')
    const noCurrency = buildEcapiEvent(signal({ name: 'closed_outcome', value: 10 }))
    assert.ok(!noCurrency.ok)
    assert.equal(noCurrency.code, 'ECAPI_CURRENCY_MISSING')
  })

  test('envelopes: single is the event, batch wraps under the key', () => {
    const built = buildEcapiEvent(signal())
    assert.ok(built.ok)
    assert.deepEqual(JSON.parse(requestBody([built.event], { mode: 'single' })), built.event)
    assert.deepEqual(JSON.parse(requestBody([built.event], { mode: 'batch', key: 'events' })), {
      events: [built.event],
    })
  })
})

describe('match keys', () => {
  test('consented PII: the hashed identifiers, address and click id; no IP, user agent or consent signals', () => {
    const built = buildEcapiEvent(signal(), { clickIdFrom: 'gclid' })
    assert.ok(built.ok)
    assert.deepEqual(matchKeysOf(built.event), [
      'address',
      'click_id',
      'customer_identifier',
      'email_address',
      'phone_numbers',
    ])
  })

  test('no PII consent: only the click id, with or without a user agent', () => {
    const noUa = signal({
      consent: { pii: false },
      event: {
        user_data: { email_address: 'a@b.co', gpp_sid: [2] },
        ext: { click_ids: { ttclid: 'E.C.P.tt' } },
      },
    })
    const built = buildEcapiEvent(noUa, { clickIdFrom: 'ttclid' })
    assert.ok(built.ok)
    assert.deepEqual(matchKeysOf(built.event), ['click_id'])
    const withUa = buildEcapiEvent(signal({ consent: { pii: false } }), { clickIdFrom: 'ttclid' })
    assert.ok(withUa.ok)
    assert.deepEqual(matchKeysOf(withUa.event), ['click_id'])
  })

  test('nothing matchable: []', () => {
    const built = buildEcapiEvent(
      signal({ consent: { pii: false }, event: { user_data: { gpp_sid: [2] }, ext: {} } }),
    )
    assert.ok(built.ok)
    assert.deepEqual(built.event.user_data, { gpp_sid: [2] })
    assert.deepEqual(matchKeysOf(built.event), [])
    const bare = buildEcapiEvent(signal({ event: { user_data: undefined, ext: {} } }))
    assert.ok(bare.ok)
    assert.deepEqual(matchKeysOf(bare.event), [])
  })
})
