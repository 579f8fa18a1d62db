import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { readClick } from './index.ts'

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'
const MINUTE = 60_000
const T = 1764979200_000 // a minute boundary

const keyAt = (now: number, body: Record<string, unknown> = {}) =>
  readClick(
    { visitor_id: 'v_123456789', url: 'https://lp.example/?gclid=Cj0KCQiAexample_gclid_1', ...body },
    { ip: '203.0.113.7', userAgent: UA, now, dataSetId: 'acme' },
  ).dedupKey

describe('click dedup keys', () => {
  it('are one key for the same page load posted again within its minute', () => {
    assert.equal(keyAt(T + 1_000), keyAt(T + 59_000))
    assert.match(keyAt(T), /^click:acme:[0-9a-z]{6}[0-9a-f]{26}$/)
  })

  it('differ by minute, by visitor and by click id', () => {
    assert.notEqual(keyAt(T), keyAt(T + MINUTE))
    assert.notEqual(keyAt(T), keyAt(T, { visitor_id: 'v_987654321' }))
    assert.notEqual(keyAt(T), keyAt(T, { url: 'https://lp.example/?gclid=Cj0KCQiAexample_gclid_2' }))
  })

  it('lead with their minute, so later clicks sort after earlier ones', () => {
    const keys = [0, 1, 35, 36, 60 * 24, 60 * 24 * 365].map((m, i) =>
      keyAt(T + m * MINUTE, { visitor_id: `v_visitor${String(9 - i).padStart(4, '0')}` }),
    )
    assert.deepEqual([...keys].sort(), keys)
  })
})

describe('click data set', () => {
  const read = (body: Record<string, unknown>) =>
    readClick(
      { visitor_id: 'v_123456789', url: 'https://lp.example/?gclid=Cj0KCQiAexample_gclid_1', ...body },
      { ip: '203.0.113.7', userAgent: UA, now: T, dataSetId: 'acme' },
    )

  it('is attribution.data_set_id: a body naming another is refused at /data_set_id', () => {
    assert.throws(
      () => read({ data_set_id: 'acme-web' }),
      (err: { status: number; details: unknown[] }) => {
        assert.equal(err.status, 400)
        assert.deepEqual(err.details, [
          { path: '/data_set_id', message: 'must be attribution.data_set_id or left out' },
        ])
        return true
      },
    )
  })

  it('accepts the same data_set_id or none, and stores the click under it', () => {
    assert.equal(read({ data_set_id: 'acme' }).event.data_set_id, 'acme')
    assert.equal(read({}).event.data_set_id, 'acme')
    assert.match(read({ data_set_id: 'acme' }).dedupKey, /^click:acme:/)
  })
})

describe('browser ids', () => {
  const ids = (body: Record<string, unknown>) =>
    readClick(
      { visitor_id: 'v_123456789', url: 'https://lp.example/?gclid=Cj0KCQiAexample_gclid_1', ...body },
      { ip: '203.0.113.7', userAgent: UA, now: T, dataSetId: 'acme' },
    ).event.ext?.click_ids as Record<string, unknown>

  it("keep the platforms' own cookies (_ga, _ttp, _fbp) for the call the visit leads to", () => {
    const got = ids({
      ga_client_id: 'GA1.1.1234567890.1764979200',
      ttp: '2Nn1qW9HkJ3o-xYz_4.tt.1',
      fbp: 'fb.1.1764979200000.1234567890',
    })
    assert.deepEqual(
      [got.ga_client_id, got.ttp, got.fbp, got.gclid],
      [
        'GA1.1.1234567890.1764979200',
        '2Nn1qW9HkJ3o-xYz_4.tt.1',
        'fb.1.1764979200000.1234567890',
        'Cj0KCQiAexample_gclid_1',
      ],
    )
  })

  it('of an odd shape are left out; the click is still taken', () => {
    const got = ids({ ga_client_id: 'GA1.1.<script>', ttp: 'x', fbp: 'fb.1.nope' })
    assert.deepEqual([got.ga_client_id, got.ttp, got.fbp], [undefined, undefined, undefined])
    assert.equal(got.gclid, 'Cj0KCQiAexample_gclid_1')
  })
})
