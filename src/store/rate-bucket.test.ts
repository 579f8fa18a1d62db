import assert from 'node:assert/strict'
import { test } from 'node:test'
import { memoryRateBuckets } from './rate-bucket.ts'

test('memory rate buckets: a burst of one second, then the rate; one bucket per destination', async () => {
  let t = 1_000_000
  const take = memoryRateBuckets(() => t)
  assert.equal(await take('a', 5, 3), 3)
  assert.equal(await take('a', 5, 3), 2, 'the rest of the burst')
  assert.equal(await take('a', 5, 3), 0, 'empty')
  t += 400 // 2 tokens at 5/s
  assert.equal(await take('a', 5, 3), 2)
  t += 10_000 // refill caps at one second's worth
  assert.equal(await take('a', 5, 100), 5)
  assert.equal(await take('b', 5, 1), 1, 'b has its own bucket')
  // below one a second the bucket still holds a whole token (capped at 0.5 it never sent anything)
  assert.equal(await take('slow', 0.5, 3), 1)
  assert.equal(await take('slow', 0.5, 3), 0)
  t += 2_000
  assert.equal(await take('slow', 0.5, 3), 1)
})
