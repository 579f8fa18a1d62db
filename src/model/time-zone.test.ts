import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { localDay, localMidnight, offsetMinutes, validTimeZone } from './time-zone.ts'

const H = 3_600_000

describe('time zones', () => {
  test('local days and offsets, winter and summer', () => {
    assert.equal(localDay(Date.UTC(2026, 11, 6, 3), 'America/New_York'), '2026-12-05')
    assert.equal(localDay(Date.UTC(2026, 11, 6, 5), 'America/New_York'), '2026-12-06')
    assert.equal(localDay(Date.UTC(2026, 11, 5, 23), 'Asia/Tokyo'), '2026-12-06')
    assert.equal(offsetMinutes(Date.UTC(2026, 0, 1), 'America/New_York'), -300)
    assert.equal(offsetMinutes(Date.UTC(2026, 6, 1), 'America/New_York'), -240)
    assert.equal(offsetMinutes(Date.UTC(2026, 6, 1), 'Asia/Kolkata'), 330)
    assert.equal(offsetMinutes(Date.UTC(2026, 6, 1), 'UTC'), 0)
  })

  test('midnights, and the days DST makes 23 and 25 hours long', () => {
    assert.equal(localMidnight('2026-12-06', 'UTC'), Date.UTC(2026, 11, 6))
    assert.equal(localMidnight('2026-12-06', 'America/New_York'), Date.UTC(2026, 11, 6, 5))
    assert.equal(localMidnight('2026-12-06', 'Asia/Kolkata'), Date.UTC(2026, 11, 5, 18, 30))
    const spring =
      localMidnight('2026-03-09', 'America/New_York') - localMidnight('2026-03-08', 'America/New_York')
    assert.equal(spring, 23 * H)
    const fall =
      localMidnight('2026-11-02', 'America/New_York') - localMidnight('2026-11-01', 'America/New_York')
    assert.equal(fall, 25 * H)
    // Santiago moves its clocks at midnight: 2026-09-06 begins at 01:00 local time
    const santiago = localMidnight('2026-09-06', 'America/Santiago')
    assert.equal(localDay(santiago, 'America/Santiago'), '2026-09-06')
    assert.equal(localDay(santiago - 1, 'America/Santiago'), '2026-09-05')
  })

  test('valid zones', () => {
    assert.equal(validTimeZone('Europe/Berlin'), true)
    assert.equal(validTimeZone('UTC'), true)
    assert.equal(validTimeZone('Mars/Olympus'), false)
    assert.equal(validTimeZone(''), false)
  })
})
