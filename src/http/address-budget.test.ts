import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { addressBudget, addressKey } from './address-budget.ts'

describe('request budget per sender address', () => {
  test('a burst, then the refill rate; each address has its own', () => {
    const budget = addressBudget({ burst: 3, perSecond: 1 })
    const t0 = 1_000_000
    assert.deepEqual(
      [1, 2, 3, 4].map(() => budget.take('203.0.113.9', t0)),
      [true, true, true, false],
    )
    assert.equal(budget.take('198.51.100.1', t0), true, 'another sender is not held back')
    assert.equal(budget.take('203.0.113.9', t0 + 500), false, 'half a token')
    assert.equal(budget.waitMs('203.0.113.9', t0 + 500), 500)
    assert.equal(budget.take('203.0.113.9', t0 + 1_000), true)
    assert.equal(budget.take('203.0.113.9', t0 + 1_000), false)
    // a long pause refills to the burst, not beyond
    assert.equal(budget.waitMs('203.0.113.9', t0 + 3_600_000), 0)
    assert.deepEqual(
      [1, 2, 3, 4].map(() => budget.take('203.0.113.9', t0 + 3_600_000)),
      [true, true, true, false],
    )
  })

  test('an IPv6 sender is one budget per /64, however it rotates the rest', () => {
    const budget = addressBudget({ burst: 2, perSecond: 0.001 })
    assert.equal(budget.take('2001:db8:1:2::1', 0), true)
    assert.equal(budget.take('2001:db8:1:2:ffff:eeee:dddd:1', 0), true)
    assert.equal(budget.take('2001:0db8:0001:0002:0::9', 0), false, 'the same /64, written longhand')
    assert.equal(budget.take('2001:db8:1:3::1', 0), true, 'the next /64 is another sender')
    assert.equal(addressKey('::ffff:203.0.113.9'), '203.0.113.9')
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64')
    assert.equal(addressKey('::1'), '0:0:0:0::/64')
  })

  test('memory stays bounded however many addresses send; the oldest are forgotten first', () => {
    const budget = addressBudget({ burst: 1, perSecond: 0.001 })
    budget.take('192.0.2.1', 0)
    for (let i = 0; i < 25_000; i++) budget.take(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 0)
    assert.equal(budget.take('192.0.2.1', 0), true, 'forgotten: a fresh burst')
    assert.equal(budget.take('10.0.97.167', 0), false, 'seen last, still remembered')
  })
})
