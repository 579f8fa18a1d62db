/**
 * The consent matrix: GPP strings built with `@iabgpp/cmpapi` (fields set on its model, then encoded),
 * explicit flags, mmt_only and the default policy → exactly the expected decision, for each audience
 * (Google, Meta, other partners) and for the strictest-of-all decision a signal carries today.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GppModel } from '@iabgpp/cmpapi'
import type { EcapiEvent } from '../model/ecapi.ts'
import type { ConsentDecision } from '../model/identity.ts'
import {
  type ConsentAudience,
  type ConsentOptions,
  type ConsentPolicy,
  consentByAudience,
  decideConsent,
  explainConsent,
  signalConsent,
} from './consent.ts'

function gpp(sections: Record<string, Record<string, unknown>>): string {
  const m = new GppModel()
  for (const [name, fields] of Object.entries(sections))
    for (const [field, value] of Object.entries(fields)) m.setFieldValue(name, field, value)
  return m.encode()
}
const purposes = (...ids: number[]) => Array.from({ length: 24 }, (_, i) => ids.includes(i + 1))
const ALL_PURPOSES = purposes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)

// Decisions, as [pii, adUserData, adPersonalization, ldu, mmtOnly].
type Row = [boolean, 'granted' | 'denied', 'granted' | 'denied', boolean, boolean]
const d = ([pii, adUserData, adPersonalization, ldu, mmtOnly]: Row): ConsentDecision => ({
  pii,
  adUserData,
  adPersonalization,
  ldu,
  mmtOnly,
})
const GRANT: Row = [true, 'granted', 'granted', false, false]
const DENY: Row = [false, 'denied', 'denied', true, false]
const MEASURE: Row = [true, 'granted', 'denied', true, false] // user data yes, personalisation no (LDU)

interface Case {
  name: string
  gpp?: string
  sid?: number[]
  explicit?: Record<string, unknown>
  mmtOnly?: boolean
  policy?: ConsentPolicy
  options?: ConsentOptions
  /** Expected per audience; `all` is the strictest, what `decideConsent(e, policy)` returns. */
  expect: Partial<Record<ConsentAudience, Row>> & { all: Row }
  /** Audiences that must be withheld entirely (TCF without measurement consent). */
  withhold?: ConsentAudience[]
  /** Substrings the reasons must contain. */
  reasons?: string[]
}

const usnat = (f: Record<string, unknown>) => gpp({ usnat: f })
const notOptedOut = {
  SharingNotice: 1,
  SaleOptOutNotice: 1,
  SharingOptOutNotice: 1,
  TargetedAdvertisingOptOutNotice: 1,
  SaleOptOut: 2,
  SharingOptOut: 2,
  TargetedAdvertisingOptOut: 2,
}
const tcfFull = { PurposeConsents: ALL_PURPOSES, VendorConsents: [755] }
const usBoth = gpp({
  usnat: { SaleOptOutNotice: 1, SaleOptOut: 1 },
  usca: { SaleOptOutNotice: 1, SaleOptOut: 2, SharingOptOutNotice: 1, SharingOptOut: 2 },
})
const tcfAndUs = gpp({ tcfeuv2: tcfFull, usnat: notOptedOut })

const CASES: Case[] = [
  // --- no GPP: explicit flags, default policy, mmt_only
  { name: 'nothing, default granted', expect: { all: GRANT, google: GRANT, meta: GRANT, partner: GRANT } },
  { name: 'nothing, default denied', policy: 'denied', expect: { all: DENY, google: DENY, meta: DENY } },
  {
    name: 'explicit flags win over the default (booleans)',
    policy: 'denied',
    explicit: { ad_user_data: true, ad_personalization: false },
    expect: { all: MEASURE, google: MEASURE, meta: MEASURE },
  },
  {
    name: "explicit flags as strings, any case ('GRANTED')",
    policy: 'denied',
    explicit: { ad_user_data: 'GRANTED', ad_personalization: 'granted' },
    expect: { all: GRANT },
  },
  {
    name: 'explicit ad_user_data denied: no PII anywhere',
    explicit: { ad_user_data: 'denied' },
    expect: {
      all: [false, 'denied', 'granted', true, false],
      meta: [false, 'denied', 'granted', true, false],
    },
  },
  {
    name: 'unrecognised explicit value is ignored (default applies)',
    explicit: { ad_user_data: 'yes please' },
    expect: { all: GRANT },
    reasons: ['unrecognised value'],
  },
  {
    name: 'mmt_only: measurement only, Meta opt_out, no personalisation',
    mmtOnly: true,
    expect: { all: [true, 'granted', 'denied', false, true], meta: [true, 'granted', 'denied', false, true] },
  },

  // --- US national and state sections
  {
    name: 'usnat sale opt-out',
    gpp: usnat({ SaleOptOutNotice: 1, SaleOptOut: 1 }),
    sid: [7],
    expect: { all: DENY, google: DENY, meta: DENY, partner: DENY },
    reasons: ['gpp usnat (7): opted out of sale'],
  },
  {
    name: 'usnat sharing opt-out',
    gpp: usnat({ ...notOptedOut, SharingOptOut: 1 }),
    sid: [7],
    expect: { all: DENY, meta: DENY },
  },
  {
    name: 'usnat targeted advertising opt-out',
    gpp: usnat({ ...notOptedOut, TargetedAdvertisingOptOut: 1 }),
    sid: [7],
    expect: { all: DENY, google: DENY },
  },
  {
    name: 'usnat notice given, did not opt out: grants even over a denied default',
    gpp: usnat(notOptedOut),
    sid: [7],
    policy: 'denied',
    expect: { all: GRANT, google: GRANT, meta: GRANT, partner: GRANT },
  },
  {
    name: 'usnat did not opt out, explicit ad_user_data false: the denial wins',
    gpp: usnat(notOptedOut),
    sid: [7],
    explicit: { ad_user_data: false },
    expect: { all: [false, 'denied', 'granted', true, false] },
  },
  {
    name: 'usnat opt-out, explicit grant: the opt-out wins',
    gpp: usnat({ SaleOptOutNotice: 1, SaleOptOut: 1 }),
    explicit: { ad_user_data: true, ad_personalization: true },
    expect: { all: DENY },
  },
  {
    name: 'usca sale opt-out',
    gpp: gpp({ usca: { SaleOptOutNotice: 1, SaleOptOut: 1 } }),
    sid: [8],
    expect: { all: DENY },
  },
  {
    name: 'usva targeted advertising opt-out',
    gpp: gpp({ usva: { TargetedAdvertisingOptOutNotice: 1, TargetedAdvertisingOptOut: 1 } }),
    sid: [9],
    expect: { all: DENY, meta: DENY },
  },
  {
    name: 'usco Global Privacy Control',
    gpp: gpp({ usco: { SaleOptOutNotice: 1, SaleOptOut: 2, Gpc: true } }),
    sid: [10],
    expect: { all: DENY },
    reasons: ['Global Privacy Control'],
  },
  {
    name: 'usut sale opt-out notice not provided',
    gpp: gpp({ usut: { SaleOptOutNotice: 2 } }),
    sid: [11],
    expect: { all: DENY },
    reasons: ['no notice of the right to opt out of sale'],
  },
  {
    name: 'usct MSPA service provider mode: LDU, no personalisation, PII per default',
    gpp: gpp({ usct: { MspaCoveredTransaction: 1, MspaServiceProviderMode: 1 } }),
    sid: [12],
    expect: { all: MEASURE, google: MEASURE, meta: MEASURE },
  },
  {
    name: 'ustx (a later state) sale opt-out',
    gpp: gpp({ ustx: { SaleOptOutNotice: 1, SaleOptOut: 1 } }),
    sid: [16],
    expect: { all: DENY },
  },
  {
    name: 'usnat known child without consent',
    gpp: usnat({ ...notOptedOut, KnownChildSensitiveDataConsents: [1, 0, 0] }),
    expect: { all: DENY },
  },
  {
    name: 'usnat sensitive data without consent: recorded by default',
    gpp: usnat({ ...notOptedOut, SensitiveDataProcessing: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }),
    expect: { all: GRANT },
    reasons: ['sensitive data categories 3 without consent (recorded'],
  },
  {
    name: 'usnat sensitive data without consent, sensitive_data: restrict',
    gpp: usnat({ ...notOptedOut, SensitiveDataProcessing: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }),
    options: { sensitiveData: 'restrict' },
    expect: { all: DENY },
  },
  {
    name: 'uspv1 (1YYN) sale opt-out',
    gpp: gpp({ uspv1: { Notice: 'Y', OptOutSale: 'Y', LspaCovered: 'N' } }),
    sid: [6],
    expect: { all: DENY, meta: DENY },
  },

  // --- TCF EU v2
  {
    name: 'TCF all purposes + Google vendor consent: Google yes, Meta needs an explicit grant',
    gpp: gpp({ tcfeuv2: tcfFull }),
    sid: [2],
    expect: { all: DENY, google: GRANT, meta: DENY, partner: DENY },
    withhold: ['meta', 'partner'],
    reasons: ['vendor 755 (google) has consent', 'meta has no TCF vendor id'],
  },
  {
    name: 'TCF all purposes + Google vendor + explicit grants: everyone yes',
    gpp: gpp({ tcfeuv2: tcfFull }),
    sid: [2],
    explicit: { ad_user_data: 'granted', ad_personalization: 'granted' },
    expect: { all: GRANT, google: GRANT, meta: GRANT, partner: GRANT },
  },
  {
    name: 'TCF all purposes, no Google vendor consent: Google denied (consent object says so), not withheld',
    gpp: gpp({ tcfeuv2: { PurposeConsents: ALL_PURPOSES, VendorConsents: [1, 2] } }),
    sid: [2],
    explicit: { ad_user_data: true, ad_personalization: true },
    expect: { all: DENY, google: DENY, meta: GRANT },
    reasons: ['vendor 755 (google) has no consent'],
  },
  {
    name: 'TCF purposes 1 and 7 only (measurement): Google user data yes, personalisation no',
    gpp: gpp({ tcfeuv2: { PurposeConsents: purposes(1, 7), VendorConsents: [755] } }),
    sid: [2],
    expect: { all: DENY, google: MEASURE, meta: DENY },
    withhold: ['meta', 'partner'],
  },
  {
    name: 'TCF purposes 3/4 without 1: nothing',
    gpp: gpp({ tcfeuv2: { PurposeConsents: purposes(3, 4, 7), VendorConsents: [755] } }),
    sid: [2],
    explicit: { ad_user_data: true, ad_personalization: true },
    expect: { all: DENY, google: DENY, meta: DENY },
    withhold: ['meta', 'partner'],
  },
  {
    name: 'TCF refused everything: Google gets the denial, Meta and partners get nothing',
    gpp: gpp({ tcfeuv2: { PurposeConsents: purposes(), VendorConsents: [] } }),
    sid: [2],
    expect: { all: DENY, google: DENY, meta: DENY, partner: DENY },
    withhold: ['meta', 'partner'],
  },
  {
    name: 'TCF with a configured Meta vendor id and its consent',
    gpp: gpp({ tcfeuv2: { PurposeConsents: ALL_PURPOSES, VendorConsents: [755, 9999] } }),
    sid: [2],
    options: { tcfVendorIds: { meta: 9999 } },
    expect: { all: DENY, google: GRANT, meta: GRANT, partner: DENY },
    withhold: ['partner'],
  },
  {
    name: 'TCF Canada: implied consent counts',
    gpp: gpp({
      tcfcav1: { PurposesImpliedConsent: purposes(1, 3, 4, 7), VendorImpliedConsent: [755] },
    }),
    sid: [5],
    expect: { all: DENY, google: GRANT, meta: DENY },
    withhold: ['meta', 'partner'],
  },

  // --- malformed strings
  {
    name: 'malformed section: fail closed',
    gpp: 'DBABMA~xyz',
    expect: { all: DENY, google: DENY, meta: DENY, partner: DENY },
    reasons: ['gpp unreadable -> denied'],
  },
  { name: 'not a GPP string at all', gpp: 'hello', sid: [7], expect: { all: DENY } },
  {
    name: 'malformed, malformed_gpp: default → the default policy',
    gpp: 'DBABMA~xyz',
    options: { malformedGpp: 'default' },
    expect: { all: GRANT },
  },
  {
    name: 'gpp_sid lists a section the string lacks: fail closed',
    gpp: usnat(notOptedOut),
    sid: [9],
    expect: { all: DENY },
  },

  // --- several sections, gpp_sid choosing
  {
    name: 'usnat opted out + usca not: gpp_sid [8] reads usca',
    gpp: usBoth,
    sid: [8],
    expect: { all: GRANT },
  },
  {
    name: 'usnat opted out + usca not: gpp_sid [7] reads usnat',
    gpp: usBoth,
    sid: [7],
    expect: { all: DENY },
  },
  { name: 'usnat opted out + usca not: no gpp_sid, the strictest', gpp: usBoth, expect: { all: DENY } },
  {
    name: 'gpp_sid [-1]: no section applies, the default decides',
    gpp: usBoth,
    sid: [-1],
    expect: { all: GRANT },
  },
  {
    name: 'TCF + usnat, gpp_sid [7]: the TC string does not apply',
    gpp: tcfAndUs,
    sid: [7],
    expect: { all: GRANT, google: GRANT, meta: GRANT },
  },
  {
    name: 'TCF + usnat, gpp_sid [2]: only the TC string applies',
    gpp: tcfAndUs,
    sid: [2],
    expect: { all: DENY, google: GRANT, meta: DENY },
    withhold: ['meta', 'partner'],
  },
  {
    name: 'a broken section outside gpp_sid does not matter',
    gpp: `${gpp({ usnat: notOptedOut, usca: { SaleOptOut: 1 } })
      .split('~')
      .slice(0, 2)
      .join('~')}~%%%`,
    sid: [7],
    expect: { all: GRANT },
  },
  {
    name: 'mmt_only with a US opt-out: both apply',
    gpp: usnat({ SaleOptOutNotice: 1, SaleOptOut: 1 }),
    mmtOnly: true,
    expect: { all: [false, 'denied', 'denied', true, true] },
  },
]

function event(c: Case): EcapiEvent {
  return {
    data_set_id: 'ds',
    timestamp: 1_700_000_000,
    event_type: 'purchase',
    user_data: {
      email_address: 'a@example.com',
      ...(c.gpp !== undefined ? { gpp_string: c.gpp } : {}),
      ...(c.sid ? { gpp_sid: c.sid } : {}),
      ...(c.mmtOnly ? { mmt_only: true } : {}),
      ...(c.explicit ? { ext: { consent: c.explicit } } : {}),
    },
  } as EcapiEvent
}

describe('consent matrix', () => {
  test(`at least 20 cases (${CASES.length})`, () => assert.ok(CASES.length >= 20))
  for (const c of CASES) {
    test(c.name, () => {
      const e = event(c)
      const policy = c.policy ?? 'granted'
      // The strictest decision is what existing two-argument callers get.
      const opts = c.options ?? {}
      assert.deepEqual(decideConsent(e, policy, opts), d(c.expect.all), 'all')
      if (!c.options) assert.deepEqual(decideConsent(e, policy), d(c.expect.all), 'two-argument call')
      for (const audience of ['google', 'meta', 'partner'] as const) {
        const row = c.expect[audience]
        if (row) assert.deepEqual(decideConsent(e, policy, { ...opts, audience }), d(row), audience)
      }
      const byAudience = consentByAudience(e, policy, opts)
      for (const audience of ['google', 'meta', 'partner'] as const) {
        assert.equal(
          byAudience[audience].withhold,
          c.withhold?.includes(audience) ?? false,
          `${audience} withhold`,
        )
      }
      const reasons = explainConsent(e, policy, opts).reasons.join('\n')
      for (const r of c.reasons ?? []) assert.ok(reasons.includes(r), `reason "${r}" in:\n${reasons}`)
    })
  }
})

describe('invariants', () => {
  test('no PII without ad user data consent, for every case and audience', () => {
    for (const c of CASES) {
      for (const audience of [undefined, 'google', 'meta', 'partner'] as const) {
        const x = explainConsent(event(c), c.policy ?? 'granted', { ...c.options, audience })
        assert.equal(x.pii, x.adUserData === 'granted', `${c.name} / ${audience}`)
        if (x.withhold) assert.equal(x.pii, false)
      }
    }
  })

  test('Google is never withheld: its Consent object carries the denial', () => {
    for (const c of CASES)
      assert.equal(consentByAudience(event(c), c.policy ?? 'granted').google.withhold, false)
  })

  test('every decision explains itself, in ASCII', () => {
    for (const c of CASES) {
      const { reasons } = explainConsent(event(c), c.policy ?? 'granted', c.options)
      assert.ok(reasons.length > 0, c.name)
      for (const r of reasons) assert.match(r, /^[\x20-\x7e]*$/, `${c.name}: ${r}`)
    }
  })

  test('signalConsent decides each audience once and agrees with decideConsent and consentByAudience', () => {
    for (const c of CASES) {
      if (c.options) continue // a signal is decided under the configured policy alone
      const e = event(c)
      const policy = c.policy ?? 'granted'
      const { consent, consentFor } = signalConsent(e, policy)
      assert.deepEqual(consent, decideConsent(e, policy), c.name)
      assert.deepEqual(consentFor, consentByAudience(e, policy), c.name)
    }
  })

  test('decideConsent returns exactly the ConsentDecision fields (signals are stored as they are)', () => {
    assert.deepEqual(Object.keys(decideConsent(event(CASES[0]), 'granted')).sort(), [
      'adPersonalization',
      'adUserData',
      'ldu',
      'mmtOnly',
      'pii',
    ])
  })

  test('gpp_sid without a gpp_string is noted and ignored; an empty string is no string', () => {
    const e = {
      data_set_id: 'ds',
      timestamp: 1,
      event_type: 'purchase',
      user_data: { gpp_sid: [7] },
    } as EcapiEvent
    assert.deepEqual(decideConsent(e, 'granted'), d(GRANT))
    assert.match(explainConsent(e, 'granted').reasons.join(), /gpp_sid without gpp_string/)
    const empty = { ...e, user_data: { gpp_string: '  ' } } as EcapiEvent
    assert.deepEqual(decideConsent(empty, 'granted'), d(GRANT))
  })

  test('an event without user_data at all', () => {
    const e = { data_set_id: 'ds', timestamp: 1, event_type: 'purchase' } as EcapiEvent
    assert.deepEqual(decideConsent(e, 'granted'), d(GRANT))
    assert.deepEqual(decideConsent(e, 'denied'), d(DENY))
  })
})
