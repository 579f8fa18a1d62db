/** The `attribution.dni` section: a tracking number belongs to one pool. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readConfig } from './index.ts'

const withPools = (pools: string) =>
  readConfig(`attribution: { data_set_id: acme, dni: { pools: ${pools} } }\n`, {})

describe('attribution.dni.pools', () => {
  test('a number in two pools is refused, naming the second listing', () => {
    const { config, errors } = withPools(
      '{ mortgage: { numbers: ["+18005550101"], hold_minutes: 30 }, refi: { numbers: ["+18005550102", "+18005550101"], hold_minutes: 30 } }',
    )
    assert.equal(config, undefined)
    assert.equal(errors.length, 1, errors.join('; '))
    assert.match(
      errors[0],
      /^attribution\.dni\.pools\.refi\.numbers\.1: \+18005550101 is already in pool mortgage \(attribution\.dni\.pools\.mortgage\.numbers\.0\)/,
    )
  })

  test("a pool's default_number that is pooled elsewhere is refused", () => {
    const { errors } = withPools(
      '{ mortgage: { numbers: ["+18005550101"], hold_minutes: 30 }, refi: { numbers: ["+18005550102"], hold_minutes: 30, default_number: "+18005550101" } }',
    )
    assert.equal(errors.length, 1, errors.join('; '))
    assert.match(errors[0], /^attribution\.dni\.pools\.refi\.default_number: \+18005550101 is a pool number/)
  })

  test('distinct numbers, and one default_number shared by pools, are accepted', () => {
    const { errors } = withPools(
      '{ mortgage: { numbers: ["+18005550101"], hold_minutes: 30, default_number: "+18005550100" }, ' +
        'refi: { numbers: ["+18005550102"], hold_minutes: 30, default_number: "+18005550100" } }',
    )
    assert.deepEqual(errors, [])
  })
})
