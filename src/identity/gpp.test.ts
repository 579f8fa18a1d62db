/**
 * GPP reading: every section the reference package exposes, built with `@iabgpp/cmpapi` itself and read
 * back; gpp_sid selection; and hostile strings (malformed, truncated, random), which must never throw.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GppModel, HeaderV1, Sections } from '@iabgpp/cmpapi'
import { readGpp, SID, type TcfSection, tcfChoice, type UsSection, usChoice } from './gpp.ts'

/** A GPP string with these fields set, per section name, encoded by the reference implementation. */
function gpp(sections: Record<string, Record<string, unknown>>): string {
  const m = new GppModel()
  for (const [name, fields] of Object.entries(sections))
    for (const [field, value] of Object.entries(fields)) m.setFieldValue(name, field, value)
  return m.encode()
}
const purposes = (...ids: number[]) => Array.from({ length: 24 }, (_, i) => ids.includes(i + 1))

const US_SECTIONS = [...Sections.SECTION_ID_NAME_MAP].filter(([id]) => id >= SID.usnat)

describe('US sections', () => {
  test('the package exposes usnat and the state sections, 7 through 27', () => {
    const names = US_SECTIONS.map(([, n]) => n)
    for (const n of ['usnat', 'usca', 'usva', 'usco', 'usut', 'usct', 'usfl', 'ustx', 'usor', 'usmt']) {
      assert.ok(names.includes(n), n)
    }
    assert.ok(US_SECTIONS.length >= 20, `${US_SECTIONS.length} US sections`)
  })

  for (const [sid, name] of US_SECTIONS) {
    test(`${name} (${sid}): SaleOptOut=1 reads back as an opt-out; 2 as not opted out`, () => {
      const out = readGpp(gpp({ [name]: { SaleOptOutNotice: 1, SaleOptOut: 1 } }), [sid])
      assert.deepEqual(out.errors, [])
      assert.equal(out.applicable.length, 1)
      const s = out.applicable[0] as UsSection
      assert.equal(s.kind, 'us')
      assert.equal(s.name, name)
      assert.equal(s.saleOptOut, 1)
      assert.equal(usChoice(s).level, 'opted_out')
      const kept = readGpp(gpp({ [name]: { SaleOptOutNotice: 1, SaleOptOut: 2 } }), [sid]).applicable[0]
      assert.equal(usChoice(kept as UsSection).level, 'not_opted_out')
    })
  }

  test('usnat: every field the decision reads is normalized', () => {
    const s = readGpp(
      gpp({
        usnat: {
          SharingNotice: 1,
          SaleOptOutNotice: 1,
          SharingOptOutNotice: 1,
          TargetedAdvertisingOptOutNotice: 1,
          SaleOptOut: 2,
          SharingOptOut: 1,
          TargetedAdvertisingOptOut: 2,
          SensitiveDataProcessing: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
          KnownChildSensitiveDataConsents: [0, 2, 0],
          PersonalDataConsents: 1,
          MspaServiceProviderMode: 1,
          Gpc: true,
        },
      }),
    ).applicable[0] as UsSection
    assert.deepEqual(
      { ...s, sensitiveDataProcessing: s.sensitiveDataProcessing.slice(0, 3) },
      {
        kind: 'us',
        sid: 7,
        name: 'usnat',
        saleOptOut: 2,
        sharingOptOut: 1,
        targetedAdvertisingOptOut: 2,
        saleOptOutNotice: 1,
        sharingOptOutNotice: 1,
        targetedAdvertisingOptOutNotice: 1,
        processingNotice: 1,
        sensitiveDataProcessing: [0, 0, 1],
        knownChildSensitiveDataConsents: [0, 2, 0],
        secondaryUseConsent: 1,
        serviceProviderMode: true,
        gpc: true,
      },
    )
  })

  test('usin/usky/usri/usmd: MspaMode 2 is service provider mode; ProcessingNotice is the processing notice', () => {
    for (const name of ['usin', 'usky', 'usri', 'usmd']) {
      const s = readGpp(gpp({ [name]: { MspaMode: 2, ProcessingNotice: 2 } })).applicable[0] as UsSection
      assert.equal(s.serviceProviderMode, true, name)
      assert.equal(s.processingNotice, 2, name)
    }
  })

  test('uspv1 ("1YYN") maps onto the US shape', () => {
    const s = readGpp(gpp({ uspv1: { Notice: 'Y', OptOutSale: 'Y', LspaCovered: 'N' } }))
      .applicable[0] as UsSection
    assert.equal(s.name, 'uspv1')
    assert.equal(s.saleOptOutNotice, 1)
    assert.equal(s.saleOptOut, 1)
    const n = readGpp(gpp({ uspv1: { Notice: 'Y', OptOutSale: 'N' } })).applicable[0] as UsSection
    assert.equal(n.saleOptOut, 2)
    const dash = readGpp(gpp({ uspv1: { Notice: '-', OptOutSale: '-' } })).applicable[0] as UsSection
    assert.equal(usChoice(dash).level, 'silent')
  })
})

describe('usChoice: what a US section says', () => {
  const base: UsSection = {
    kind: 'us',
    sid: 7,
    name: 'usnat',
    saleOptOut: 0,
    sharingOptOut: 0,
    targetedAdvertisingOptOut: 0,
    saleOptOutNotice: 0,
    sharingOptOutNotice: 0,
    targetedAdvertisingOptOutNotice: 0,
    processingNotice: 0,
    sensitiveDataProcessing: [],
    knownChildSensitiveDataConsents: [],
    secondaryUseConsent: 0,
    serviceProviderMode: false,
    gpc: false,
  }
  const cases: [string, Partial<UsSection>, string][] = [
    ['all not applicable', {}, 'silent'],
    ['did not opt out', { saleOptOutNotice: 1, saleOptOut: 2 }, 'not_opted_out'],
    ['sale opt-out', { saleOptOut: 1 }, 'opted_out'],
    ['sharing opt-out', { sharingOptOut: 1 }, 'opted_out'],
    ['targeted advertising opt-out', { targetedAdvertisingOptOut: 1 }, 'opted_out'],
    ['GPC', { gpc: true, saleOptOut: 2 }, 'opted_out'],
    ['no sale notice', { saleOptOutNotice: 2 }, 'opted_out'],
    ['no sharing notice', { sharingOptOutNotice: 2 }, 'opted_out'],
    ['no targeted advertising notice', { targetedAdvertisingOptOutNotice: 2 }, 'opted_out'],
    ['no processing notice', { processingNotice: 2, saleOptOut: 2 }, 'opted_out'],
    ['known child, no consent', { knownChildSensitiveDataConsents: [1, 0, 0] }, 'opted_out'],
    ['known child, consent', { knownChildSensitiveDataConsents: [2, 0, 0], saleOptOut: 2 }, 'limited'],
    ['service provider mode', { serviceProviderMode: true }, 'limited'],
    [
      'sensitive without consent, record',
      { sensitiveDataProcessing: [1], saleOptOutNotice: 1, saleOptOut: 2 },
      'not_opted_out',
    ],
    [
      'no secondary-use consent is recorded only',
      { secondaryUseConsent: 1, saleOptOutNotice: 1, saleOptOut: 2 },
      'not_opted_out',
    ],
    // not opting out means something only where the person was told they could
    ['did not opt out, the notice not applicable', { saleOptOut: 2 }, 'silent'],
    [
      'did not opt out of targeting, notice given',
      { targetedAdvertisingOptOutNotice: 1, targetedAdvertisingOptOut: 2 },
      'not_opted_out',
    ],
  ]
  for (const [name, fields, level] of cases) {
    test(name, () => assert.equal(usChoice({ ...base, ...fields }).level, level))
  }
  test('sensitive without consent, restrict → opted out, with the category in the reason', () => {
    const r = usChoice({ ...base, saleOptOut: 2, sensitiveDataProcessing: [0, 0, 1] }, 'restrict')
    assert.equal(r.level, 'opted_out')
    assert.match(r.reasons[0], /sensitive data categories 3 without consent/)
  })
})

describe('TCF', () => {
  test('TCF EU v2: purposes, legitimate interests, vendors and special features as 1-based ids', () => {
    const s = readGpp(
      gpp({
        tcfeuv2: {
          PurposeConsents: purposes(1, 3, 4, 7),
          PurposeLegitimateInterests: purposes(2, 7),
          VendorConsents: [755, 10],
          VendorLegitimateInterests: [755],
          SpecialFeatureOptins: [true, false],
        },
      }),
      [2],
    ).applicable[0] as TcfSection
    assert.deepEqual(s.purposeConsents, [1, 3, 4, 7])
    assert.deepEqual(s.purposeLegitimateInterests, [2, 7])
    assert.deepEqual(s.vendorConsents, [10, 755])
    assert.deepEqual(s.vendorLegitimateInterests, [755])
    assert.deepEqual(s.specialFeatureOptins, [1])
    assert.equal(s.purposeOneTreatment, false)
  })

  test('TCF Canada: express and implied consent both count', () => {
    const s = readGpp(
      gpp({
        tcfcav1: {
          PurposesExpressConsent: purposes(1, 3),
          PurposesImpliedConsent: purposes(4, 7),
          VendorExpressConsent: [755],
          VendorImpliedConsent: [12],
        },
      }),
      [5],
    ).applicable[0] as TcfSection
    assert.deepEqual(s.purposeConsents, [1, 3, 4, 7])
    assert.deepEqual(s.vendorConsents, [12, 755])
  })

  test('a bare TC string (starts with C) is read as section 2', () => {
    const m = new GppModel()
    m.setFieldValue('tcfeuv2', 'PurposeConsents', purposes(1, 7))
    m.setFieldValue('tcfeuv2', 'VendorConsents', [755])
    const tc = m.encodeSection('tcfeuv2')
    assert.ok(tc.startsWith('C'))
    const out = readGpp(tc)
    assert.deepEqual(out.errors, [])
    assert.deepEqual((out.applicable[0] as TcfSection).purposeConsents, [1, 7])
  })

  const tcf = (p: number[], v: number[]): TcfSection => ({
    kind: 'tcf',
    sid: 2,
    name: 'tcfeuv2',
    purposeConsents: p,
    purposeLegitimateInterests: [],
    vendorConsents: v,
    vendorLegitimateInterests: [],
    specialFeatureOptins: [],
    purposeOneTreatment: false,
  })
  const choices: [string, number[], number[], number | undefined, string, string][] = [
    ['all purposes, vendor consent', [1, 3, 4, 7], [755], 755, 'granted', 'granted'],
    ['all purposes, no vendor consent', [1, 3, 4, 7], [1], 755, 'denied', 'denied'],
    ['measurement only (1, 7)', [1, 7], [755], 755, 'granted', 'denied'],
    ['personalisation only (1, 3, 4)', [1, 3, 4], [755], 755, 'denied', 'granted'],
    ['no purpose 1', [3, 4, 7], [755], 755, 'denied', 'denied'],
    ['purpose 3 without 4', [1, 3, 7], [755], 755, 'granted', 'denied'],
    ['no vendor id: purposes allow → explicit', [1, 3, 4, 7], [], undefined, 'explicit', 'explicit'],
    ['no vendor id: purposes refuse → denied', [], [], undefined, 'denied', 'denied'],
  ]
  for (const [name, p, v, id, user, pers] of choices) {
    test(`tcfChoice: ${name}`, () => {
      const c = tcfChoice(tcf(p, v), id, 'test')
      assert.deepEqual([c.adUserData, c.adPersonalization], [user, pers])
    })
  }
})

describe('gpp_sid', () => {
  const both = gpp({
    usnat: { SaleOptOutNotice: 1, SaleOptOut: 1 },
    usca: { SaleOptOutNotice: 1, SaleOptOut: 2 },
  })
  const names = (sid?: number[]) => readGpp(both, sid).applicable.map((s) => s.name)

  test('chooses the sections that apply', () => {
    assert.deepEqual(names([8]), ['usca'])
    assert.deepEqual(names([7]), ['usnat'])
    assert.deepEqual(names([7, 8]), ['usnat', 'usca'])
  })
  test('absent or empty: every section applies (and says so)', () => {
    assert.deepEqual(names(), ['usnat', 'usca'])
    assert.deepEqual(names([]), ['usnat', 'usca'])
    assert.match(readGpp(both).notes.join(), /gpp_sid absent/)
  })
  test('header (3) and signal integrity (4) ids are not sections to read', () => {
    assert.deepEqual(names([3, 4, 8]), ['usca'])
  })
  test('[-1] / [0]: no section applies', () => {
    assert.deepEqual(names([-1]), [])
    assert.deepEqual(names([0]), [])
    assert.deepEqual(readGpp(both, [-1]).errors, [])
  })
  test('a listed section the string does not carry is an error', () => {
    assert.match(readGpp(both, [9]).errors.join(), /gpp_sid lists section 9/)
  })
  test('a broken section that does not apply is ignored; one that applies is an error', () => {
    const [header, usnat] = both.split('~')
    const broken = `${header}~${usnat}~%%%`
    assert.deepEqual(readGpp(broken, [7]).errors, [])
    assert.deepEqual(
      readGpp(broken, [7]).applicable.map((s) => s.name),
      ['usnat'],
    )
    assert.equal(readGpp(broken, [8]).errors.length, 1)
  })
})

describe('malformed strings never throw and always say why', () => {
  const header = (ids: number[]) => {
    const h = new HeaderV1()
    h.setFieldValue('SectionIds', ids)
    return h.encode()
  }
  const valid = gpp({ usnat: { SaleOptOutNotice: 1, SaleOptOut: 1 } })
  const cases: [string, string][] = [
    ['empty', ''],
    ['whitespace', '   '],
    ['a lone D', 'D'],
    ['not GPP at all', 'garbage'],
    ['a US Privacy string without a header', '1YNN'],
    ['a blank section', 'DBABM~'],
    ['an undecodable TCF section', 'DBABMA~xyz'],
    ['header only', 'DBABMA'],
    ['more sections than the header lists', `${valid}~${valid.split('~')[1]}`],
    ['a truncated TC string', 'C'],
    ['a section id the decoder does not know', `${header([1])}~AAAA`],
    ['tildes only', '~~~'],
    ['binary noise', '\u0000\uffff\ud800'],
  ]
  for (const [name, s] of cases) {
    test(name, () => {
      const out = readGpp(s)
      assert.ok(out.errors.length > 0, `expected an error, got ${JSON.stringify(out)}`)
      assert.deepEqual(out.applicable, [])
    })
  }

  test('a blank section gpp_sid does not name is ignored, like any other section it does not name', () => {
    // usnat (7) applies and grants; usca (8) is blank: read alone it fails, beside gpp_sid [7] it is ignored
    const usnat = gpp({ usnat: { SaleOptOutNotice: 1, SaleOptOut: 2 } })
    const both = gpp({ usnat: { SaleOptOutNotice: 1, SaleOptOut: 2 }, usca: { SaleOptOutNotice: 1 } })
    const blankUsca = `${both.split('~')[0]}~${usnat.split('~')[1]}~`
    const read = readGpp(blankUsca, [7])
    assert.deepEqual(read.errors, [])
    assert.deepEqual(
      read.applicable.map((s) => s.sid),
      [7],
    )
    assert.match(readGpp(blankUsca).errors.join(), /usca \(8\): the section is blank/)
  })

  test('every truncation of valid strings, and 2,000 random ones: no throw, errors or sections', () => {
    const strings = [
      valid,
      gpp({
        tcfeuv2: { PurposeConsents: purposes(1, 2, 3), VendorConsents: [755, 2, 3] },
        usca: { Gpc: true },
      }),
    ]
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~'
    let seed = 42
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const inputs: string[] = []
    for (const s of strings) for (let i = 0; i <= s.length; i++) inputs.push(s.slice(0, i))
    // Each section truncated in place: the header still matches, so only the section decoder can object.
    for (const s of strings) {
      const parts = s.split('~')
      for (let p = 1; p < parts.length; p++)
        for (let i = 0; i < parts[p].length; i++)
          inputs.push(parts.map((x, j) => (j === p ? x.slice(0, i) : x)).join('~'))
    }
    for (let n = 0; n < 2000; n++) {
      const len = Math.floor(rand() * 60)
      let s = rand() < 0.5 ? 'DB' : ''
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * alphabet.length)]
      inputs.push(s)
    }
    for (const s of inputs) {
      const out = readGpp(s)
      assert.ok(Array.isArray(out.errors) && Array.isArray(out.applicable))
      if (out.errors.length === 0) assert.equal(out.applicable.length, out.present.length, s)
      // A truncated opt-out never reads as anything but an opt-out (or an error).
      if (s.startsWith(valid.split('~')[0]) && out.errors.length === 0 && out.applicable[0]?.kind === 'us')
        assert.equal(out.applicable[0].saleOptOut, 1, s)
    }
  })
})
