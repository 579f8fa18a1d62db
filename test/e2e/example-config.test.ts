/**
 * The example config as a user copies it: its affiliate postback (pointed at a loopback receiver) is told
 * `approved` for a sale and `rejected` when the sale is re-dispositioned, and nothing about the call's
 * micro-conversions.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { createApp } from '../../src/app.ts'
import { readConfig } from '../../src/config/index.ts'
import { eventually, httpRequest } from '../helpers/app.ts'
import { startReceiver } from '../helpers/receiver.ts'

test('the example affiliate hears approved for a sale and rejected for its re-disposition', async () => {
  const receiver = await startReceiver()
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-example-'))
  const text = readFileSync('closeloop.example.yaml', 'utf8')
    .replace('sqlite: ./data/closeloop.db', `sqlite: ${join(dir, 'closeloop.db')}`)
    // the receiver is on loopback, which outbound requests refuse unless allowed
    .replace('    type: postback\n', '    type: postback\n    allow_private: true\n')
  const { config, errors } = readConfig(text, {
    AFFILIATE_POSTBACK_URL: `${receiver.url}/pb?click={click_id}&status={status}&payout={value}&tid={event_id}`,
    CLOSELOOP_API_KEY: 'example-key-0123456789',
  })
  assert.ok(config, errors.join('\n'))
  const app = await createApp({ config: { ...config, log: { level: 'silent' } } })
  try {
    const url = `http://127.0.0.1:${await app.listen(0, '127.0.0.1')}`
    const post = (call: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      httpRequest(
        url,
        'POST',
        '/v1/events',
        {
          data_set_id: 'acme',
          timestamp: Math.floor(Date.now() / 1000),
          event_type: 'contact',
          source: 'phone_call',
          ext: {
            call: { call_id: 'CA-example-1', caller: '+12125550000', ...call },
            click_ids: { gclid: 'G-ex' },
          },
          ...extra,
        },
        { authorization: 'Bearer example-key-0123456789' },
      )
    for (const res of [
      await post({ status: 'answered' }),
      await post({ disposition: 'Sale' }, { value: 500, currency_code: 'USD' }),
    ])
      assert.equal(res.status, 200, res.text)
    await eventually(() => receiver.received.length === 1, 5000, 'the sale')
    const cancelled = await post({ disposition: 'Cancelled' })
    assert.equal(cancelled.status, 200, cancelled.text)
    await eventually(() => receiver.received.length === 2, 5000, 'the retraction')
    const statuses = receiver.received.map((r) => new URL(r.url, url).searchParams)
    assert.deepEqual(
      statuses.map((q) => [q.get('status'), q.get('payout')]),
      [
        ['approved', '500'],
        ['rejected', '0'],
      ],
    )
  } finally {
    await app.close()
    await receiver.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
