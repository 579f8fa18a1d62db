import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { campaignView, compileRules, inWindow, localTime, matchCampaign } from './config.ts'
import { applyValueRule } from './rules.ts'

describe('compileRules', () => {
  test('empty config: shipped defaults', () => {
    const { rules, errors } = compileRules({})
    assert.deepEqual(errors, [])
    assert.equal(rules.defaultCampaign.qualifiedAfterS, 120)
    assert.equal(rules.currency, 'USD')
    assert.equal(rules.dispositions.get('sale')?.value, 'full')
    assert.deepEqual(rules.dispositions.get('qualified lead')?.value, { fraction: 0.3 })
    assert.equal(rules.dispositions.get('appointment set')?.value, 25)
    assert.equal(rules.dispositions.get('no answer')?.followUp, true)
    assert.equal(rules.dispositions.get('existing customer')?.classify, 'service')
    assert.equal(rules.dispositions.get('existing customer')?.convert, false)
    assert.equal(rules.dispositions.get('sold')?.name, 'Sale', 'alias')
    assert.ok(rules.spam.attestation.has('tn-validation-failed-a'))
    assert.equal(rules.spam.pattern?.calls, 3)
  })

  test('precise dotted-path errors', () => {
    const { errors } = compileRules({
      campaigns: {
        'mortgage-*': { qualified_after_s: -1 },
        solar: { preset: 'roofing' },
        ins: { timezone: 'Mars/Olympus' },
        legal: { qualifed_after_s: 90 },
        night: { dayparts: [{ from: '25:00' }] },
      },
      dispositions: { Sale: { value: { fraction: 2 } }, Bad: { convert: 'nope' } },
      calls: { spam: { blocklist: ['not-a-number'] }, timezone: 'Nowhere/City' },
    })
    const has = (prefix: string) =>
      assert.ok(
        errors.some((e) => e.startsWith(prefix)),
        `${prefix} in ${errors.join('\n')}`,
      )
    has('campaigns.mortgage-*.qualified_after_s: must be ≥ 0')
    has('campaigns.solar.preset:')
    has('campaigns.ins.timezone: unknown IANA time zone "Mars/Olympus"')
    has('campaigns.legal.qualifed_after_s: unknown field')
    has('campaigns.night.dayparts.0.from:')
    has('dispositions.Sale.value:')
    has('dispositions.Bad.convert: expected true or false')
    has('calls.spam.blocklist.0:')
    has('calls.timezone: unknown IANA time zone')
  })

  test('configured dispositions replace defaults by name, case-insensitively, and add new ones', () => {
    const { rules, errors } = compileRules({
      dispositions: { sale: { value: 300, event_type: 'purchase' }, 'Policy Bound': { value: 'full' } },
    })
    assert.deepEqual(errors, [])
    assert.equal(rules.dispositions.get('sale')?.value, 300)
    assert.equal(rules.dispositions.get('sale')?.eventType, 'purchase')
    assert.equal(rules.dispositions.get('policy bound')?.convert, true)
    assert.equal(rules.dispositions.get('no answer')?.followUp, true, 'other defaults stay')
  })

  test('an alias claimed twice is an error', () => {
    const { errors } = compileRules({ dispositions: { Won: { aliases: ['sold'] } } })
    assert.deepEqual(errors, ['dispositions.Won.aliases: "sold" is already an alias of "Sale"'])
  })
})

describe('campaign matching', () => {
  const { rules } = compileRules({
    campaigns: {
      default: { qualified_after_s: 100 },
      'mortgage-*': { preset: 'mortgage' },
      'mortgage-vip': { qualified_after_s: 30 },
      '+1800555*': { preset: 'home_services' },
      ins: { preset: 'insurance', tracking_numbers: ['+1888*'] },
    },
  })
  test('exact name, then globs, then tracking numbers, then default', () => {
    assert.equal(matchCampaign(rules, { name: 'mortgage-vip' }).qualifiedAfterS, 30)
    assert.equal(matchCampaign(rules, { name: 'mortgage-ny' }).qualifiedAfterS, 180)
    assert.equal(matchCampaign(rules, { trackingNumber: '+18005551234' }).qualifiedAfterS, 60)
    assert.equal(matchCampaign(rules, { trackingNumber: '+18885550000' }).key, 'ins')
    assert.equal(matchCampaign(rules, { name: 'other', trackingNumber: '+12125550000' }).qualifiedAfterS, 100)
  })
  test('presets carry the vertical floors', () => {
    const { rules: r } = compileRules({
      campaigns: { a: { preset: 'insurance' }, b: { preset: 'legal' }, c: { preset: 'auto' } },
    })
    assert.deepEqual(
      r.campaigns.map((c) => c.qualifiedAfterS),
      [120, 120, 90],
    )
  })
})

describe('day-parting', () => {
  test('local time in an IANA zone', () => {
    // Tue 6 May 2025 19:07 UTC = 15:07 EDT
    assert.deepEqual(localTime(1746558464, 'America/New_York'), { day: 2, minutes: 15 * 60 + 7 })
    assert.deepEqual(localTime(1746558464, 'Asia/Tokyo'), { day: 3, minutes: 4 * 60 + 7 })
  })
  test('windows, including ones that wrap past midnight', () => {
    assert.ok(inWindow({ from: 22 * 60, to: 6 * 60 }, { day: 1, minutes: 23 * 60 }))
    assert.ok(inWindow({ from: 22 * 60, to: 6 * 60 }, { day: 1, minutes: 60 }))
    assert.ok(!inWindow({ from: 22 * 60, to: 6 * 60 }, { day: 1, minutes: 12 * 60 }))
    assert.ok(!inWindow({ days: [1], from: 0, to: 1440 }, { day: 2, minutes: 0 }))
  })
  test('a window past midnight with days belongs to the day it opened: Friday 22:00–06:00', () => {
    const fridayNight = { days: [5], from: 22 * 60, to: 6 * 60 }
    assert.ok(inWindow(fridayNight, { day: 5, minutes: 23 * 60 + 30 }), 'Fri 23:30')
    assert.ok(inWindow(fridayNight, { day: 6, minutes: 60 }), 'Sat 01:00')
    assert.ok(inWindow(fridayNight, { day: 6, minutes: 5 * 60 + 59 }), 'Sat 05:59')
    assert.ok(!inWindow(fridayNight, { day: 5, minutes: 60 }), 'Fri 01:00 belongs to Thursday night')
    assert.ok(!inWindow(fridayNight, { day: 6, minutes: 23 * 60 }), 'Sat 23:00')
    assert.ok(
      inWindow({ days: [6], from: 22 * 60, to: 6 * 60 }, { day: 0, minutes: 30 }),
      'Saturday night into Sunday',
    )
  })
  test('campaignView applies hours and the first matching daypart', () => {
    const { rules } = compileRules({
      campaigns: {
        c: {
          qualified_after_s: 90,
          timezone: 'America/Los_Angeles',
          hours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '07:00', to: '19:00' }],
          dayparts: [{ from: '12:00', to: '13:00', qualified_after_s: 45, qualified_value: 10 }],
        },
      },
    })
    const c = rules.campaigns[0]
    const noonLA = 1746558464 + 5 * 60 // Tue 12:12 in Los Angeles (UTC−7)
    const v = campaignView(c, noonLA)
    assert.equal(v.qualifiedAfterS, 45)
    assert.equal(v.qualifiedValue, 10)
    assert.equal(v.outsideHours, false)
    assert.equal(campaignView(c, 1746558464 + 8 * 3600).outsideHours, true, '20:07 is past 19:00')
    assert.equal(campaignView(c, 1746558464 + 6 * 3600).outsideHours, false, '18:07')
  })
})

describe('value rules', () => {
  const v = { revenue: 200, payout: 45, predicted: 900, value: 1000 }
  test('fixed, bases, fraction, margin, profit, first-defined lists', () => {
    assert.equal(applyValueRule(25, v), 25)
    assert.equal(applyValueRule({ fixed: 12.5 }, v), 12.5)
    assert.equal(applyValueRule('full', v), 200)
    assert.equal(applyValueRule('payout', v), 45)
    assert.equal(applyValueRule('predicted', v), 900)
    assert.equal(applyValueRule('profit', v), 155)
    assert.equal(applyValueRule({ fraction: 0.3 }, v), 60)
    assert.equal(applyValueRule({ fraction: 0.1, of: 'predicted' }, v), 90)
    assert.equal(applyValueRule({ margin: 0.35 }, v), 70)
    assert.equal(applyValueRule('none', v), undefined)
    assert.equal(applyValueRule(['predicted', 'full'], { revenue: 90 }), 90)
    assert.equal(applyValueRule('full', { value: 1000 }), 1000, 'revenue falls back to the campaign value')
    assert.equal(applyValueRule({ fraction: 0.3 }, {}), undefined)
    assert.equal(applyValueRule({ fraction: 0.1 }, { revenue: 3 }), 0.3, 'rounded to cents')
  })
})
