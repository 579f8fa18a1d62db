import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startRetention } from './retention.ts'

test('each pass scrubs up to raw_pii_days ago, reading national numbers in calls.default_region', async () => {
  const passes: Array<{ cutoff: number; region?: string }> = []
  const store = {
    async scrubExpired(cutoff: number, _now: number, opts?: { region?: string }) {
      passes.push({ cutoff, region: opts?.region })
      return {}
    },
  }
  const quiet = { info() {}, warn() {} }
  const stop = startRetention(
    store,
    { raw_pii_days: 2, interval_minutes: 60, phone_region: 'GB' },
    quiet,
    () => 1e12,
  )
  await stop()
  assert.deepEqual(passes, [{ cutoff: 1e12 - 2 * 86_400_000, region: 'GB' }])
})
