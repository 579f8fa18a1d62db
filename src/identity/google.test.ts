import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  googleAddress,
  googleEmailHash,
  googleFamilyNameHash,
  googleGivenNameHash,
  googleIdentifiers,
  googlePhoneHash,
  googlePostalCode,
  googleRegionCode,
  googleStreetHash,
  normalizeGoogleEmail,
  normalizeGoogleFamilyName,
  normalizeGoogleGivenName,
  normalizeGooglePhone,
} from './google.ts'
import { sha256Hex } from './hash.ts'

// Every vector of /work/shared/reference/google.md §5 (and ecapi.md §8 where Google's rule is the same).
describe('Google hash vectors', () => {
  const emails: [string, string, string][] = [
    ['test@gmail.com', 'test@gmail.com', '87924606b4131a8aceeeae8868531fbb9712aaa07a5d3a756b26ce0f5d6ca674'],
    [
      'test1@gmail.com',
      'test1@gmail.com',
      'a295fa4e457ca8c72751ffb6196f34b2349dcd91443b8c70ad76082d30dbdcd9',
    ],
    [
      'test2@gmail.com',
      'test2@gmail.com',
      'cc2e166955ec49675e749f9dce21db0cbd2979d4aac4a845bdde35ccb642bc47',
    ],
    [
      'Test.User@Gmail.com ',
      'testuser@gmail.com',
      'dae9c7c55697ba170d6b494c458649bd469af525520280d0dcfc98d74d13b17e',
    ],
    [
      'first.last@example.com',
      'first.last@example.com',
      'ed54043dc26abe52005ca8de7f530026bb4773f53e7a6effc7a520944bab01ad',
    ],
    [
      'j.o.h.n+alias@gmail.com',
      'john+alias@gmail.com',
      'd544282cb59e7e59d24388ed55e7c0b1573653150226045cc2c625d4fa9ecd49',
    ],
    // ecapi.md §8: trim + lowercase, same as Google for a non-gmail domain
    [
      ' User@example.com ',
      'user@example.com',
      'b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514',
    ],
  ]
  for (const [raw, normalized, hash] of emails) {
    test(`email ${JSON.stringify(raw)}`, () => {
      assert.equal(normalizeGoogleEmail(raw), normalized)
      assert.equal(googleEmailHash(raw), hash)
    })
  }

  test('the +tag is kept (Rudder strips it; Google documents no such rule)', () => {
    assert.notEqual(
      googleEmailHash('j.o.h.n+alias@gmail.com'),
      '142d78e466cacab37c3751a6ba0d288ce40db609ce9c49617ea6b24665f1aa9c',
    )
  })

  test('googlemail.com loses dots, other domains keep them', () => {
    assert.equal(normalizeGoogleEmail('a.b@googlemail.com'), 'ab@googlemail.com')
    assert.equal(normalizeGoogleEmail('a.b@gmail.com.evil.example'), 'a.b@gmail.com.evil.example')
  })

  const phones: [string, string, string][] = [
    ['6161729102', '+16161729102', '76ff44c6428f2fc2750fec01cb3190423adaebb21e797d942f339f3c7c1761dd'],
    ['+16161729101', '+16161729101', '22563905dd330440cb95d11761541dd3bd7f9b704b132392c717a3633582884c'],
    ['(800)555-0100', '+18005550100', 'fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30'],
    ['+44 20 7946 0958', '+442079460958', 'f0bf0228144d9fe2bdf1da2d8ca698f17bf1410ee688b075c27062e47b6f0b6d'],
    ['+1 (510) 555-0011', '+15105550011', '39d2122ff99ec98626b996af6c8070071aaad46eb9846312cf42e6c18f1ea4d4'],
    ['+1 212-555-0000', '+12125550000', '7c8d08bf90ca322bcac37f99ba14e980e4b1f5ba919f7e16a030af9070ba125e'],
  ]
  for (const [raw, normalized, hash] of phones) {
    test(`phone ${JSON.stringify(raw)}`, () => {
      assert.equal(normalizeGooglePhone(raw), normalized)
      assert.equal(googlePhoneHash(raw), hash)
    })
  }

  // Vectors whose raw input is unpublished: the hash of the normalized string is all there is to check.
  // (`+912382193` is too short for an Indian number, so the phone parser rightly refuses it as raw input.)
  test('vectors with unpublished raw input', () => {
    assert.equal(sha256Hex('+912382193'), '45acd77ca923e5a772da37d8ca6eaefac79f7702030eb7e14ba6ac542aa4054c')
    assert.equal(
      sha256Hex('+16161729101'),
      '22563905dd330440cb95d11761541dd3bd7f9b704b132392c717a3633582884c',
    )
  })

  test('E.164 formatting cases (Segment functions.test.ts)', () => {
    assert.equal(normalizeGooglePhone('16195551000', 'US'), '+16195551000')
    assert.equal(normalizeGooglePhone('20 7123 4567', 'GB'), '+442071234567')
    assert.equal(normalizeGooglePhone('+49 30 1234567', 'DE'), '+49301234567')
    // the naive-prefix pitfall: an international number is not re-prefixed with the default region
    assert.equal(normalizeGooglePhone('+44 20 7123 4567', 'US'), '+442071234567')
  })

  test('names and street', () => {
    assert.equal(
      googleFamilyNameHash('Gomes'),
      '12918b23d69d698324a78a8ab8f5060fdb25537ea9620f956d39adca151c3ef9',
    )
    assert.equal(
      googleGivenNameHash('john'),
      '96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a',
    )
    assert.equal(
      googleGivenNameHash(' Jane '),
      '81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2',
    )
    assert.equal(
      googleFamilyNameHash(' Smith '),
      '6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd',
    )
    assert.equal(
      googleFamilyNameHash('Doe'),
      '799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f',
    )
    assert.equal(
      googleStreetHash(' 71 Cherry  Court Southampton SO53 5PD UK '),
      '5c100d86e9f40bb62a85ca821ff93d96aff6b0dc4c792794c4a4d51ec9246eff',
    )
  })
})

describe('Google normalization rules', () => {
  test('prefixes, suffixes and punctuation are removed from names', () => {
    assert.equal(normalizeGoogleGivenName(' Mrs. Mary-Ann '), 'maryann')
    assert.equal(normalizeGoogleGivenName('Dr'), 'dr') // a lone word is a name, not a prefix
    assert.equal(normalizeGoogleFamilyName("O'Brien Jr."), 'obrien')
    assert.equal(normalizeGoogleFamilyName('García  López'), 'garcía lópez')
  })

  test('SHA-256 digests pass through, lowercased', () => {
    const h = sha256Hex('x@example.com').toUpperCase()
    assert.equal(googleEmailHash(h), h.toLowerCase())
    assert.equal(googlePhoneHash(h), h.toLowerCase())
    assert.equal(googleGivenNameHash(h), h.toLowerCase())
  })

  test('empty and unparseable values hash to nothing', () => {
    assert.equal(googleEmailHash('   '), undefined)
    assert.equal(googlePhoneHash('anonymous'), undefined)
    assert.equal(googlePhoneHash(undefined), undefined)
  })

  test('region and postal codes stay in the clear', () => {
    assert.equal(googleRegionCode(' us '), 'US')
    assert.equal(googleRegionCode('United States'), undefined)
    assert.equal(googlePostalCode('10001-1234', 'US'), '10001')
    assert.equal(googlePostalCode('SO53 5PD', 'GB'), 'SO53 5PD')
    assert.equal(googlePostalCode(sha256Hex('10001'), 'US'), undefined)
  })

  test('an address needs all four parts', () => {
    assert.deepEqual(
      googleAddress({ first_name: 'Jane', last_name: 'Smith', country_code: 'us', postal_code: '10001' }),
      {
        givenName: '81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2',
        familyName: '6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd',
        regionCode: 'US',
        postalCode: '10001',
      },
    )
    assert.equal(googleAddress({ first_name: 'Jane', last_name: 'Smith', country_code: 'us' }), undefined)
  })

  test('identifiers are collected, deduplicated, caller last', () => {
    const ids = googleIdentifiers(
      { email_address: ['Test@gmail.com', 't.est@gmail.com'], phone_numbers: '+1 212-555-0000' },
      '+12125550000',
    )
    assert.deepEqual(ids.emails, [sha256Hex('test@gmail.com')])
    assert.deepEqual(ids.phones, ['7c8d08bf90ca322bcac37f99ba14e980e4b1f5ba919f7e16a030af9070ba125e'])
    assert.deepEqual(googleIdentifiers(undefined, '+18005550100').phones, [sha256Hex('+18005550100')])
  })
})
