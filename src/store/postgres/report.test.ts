import assert from 'node:assert/strict'
import { test } from 'node:test'
import { concurrencyLimit } from './report.ts'

test('concurrencyLimit: never more than n at once, all run, in order of arrival, failures free their slot', async () => {
  const limited = concurrencyLimit(2)
  let running = 0
  let most = 0
  const started: number[] = []
  const job = (i: number) =>
    limited(async () => {
      started.push(i)
      running++
      most = Math.max(most, running)
      await new Promise((r) => setTimeout(r, 5))
      running--
      if (i === 3) throw new Error('boom')
      return i
    })
  const first = [0, 1, 2, 3, 4, 5].map(job)
  // a newcomer arriving just as a slot frees up waits behind those already waiting
  await new Promise((r) => setTimeout(r, 6))
  const late = job(6)
  const results = await Promise.allSettled([...first, late])
  assert.equal(most, 2)
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6])
  assert.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed')),
    [0, 1, 2, 'failed', 4, 5, 6],
  )
})
