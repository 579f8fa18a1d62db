import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { refusalBudget } from './refusals.ts'

describe('refusal budget per sender address', () => {
  test('a burst, then the refill rate; each address has its own', () => {
    const budget = refusalBudget({ burst: 3, perSecond: 1 })
    const t0 = 1_000_000
    assert.deepEqual(
      [1, 2, 3, 4].map(() => budget.take('203.0.113.9', t0)),
      [true, true, true, false],
    )
    assert.equal(budget.take('198.51.100.1', t0), true, 'another sender is not held back')
    assert.equal(budget.take('203.0.113.9', t0 + 500), false, 'half a token')
    assert.equal(budget.take('203.0.113.9', t0 + 1_000), true)
    assert.equal(budget.take('203.0.113.9', t0 + 1_000), false)
    // a long pause refills to the burst, not beyond
    assert.deepEqual(
      [1, 2, 3, 4].map(() => budget.take('203.0.113.9', t0 + 3_600_000)),
      [true, true, true, false],
    )
  })

  test('memory stays bounded however many addresses send', () => {
    const budget = refusalBudget({ burst: 1, perSecond: 0.001 })
    for (let i = 0; i < 25_000; i++) budget.take(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 0)
    // the table started over at 10,000 addresses: the first sender has a fresh burst again
    assert.equal(budget.take('10.0.0.0', 0), true)
  })
})
