import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { canonicalTimeZone, localDay, localMidnight, offsetMinutes, validTimeZone } from './time-zone.ts'

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

  test('spellings: one canonical name; endless spellings do not grow memory without bound', () => {
    assert.equal(canonicalTimeZone('aMeRiCa/NeW_yOrK'), 'America/New_York')
    assert.equal(canonicalTimeZone('utc'), 'UTC')
    assert.equal(canonicalTimeZone('Mars/Olympus'), undefined)
    const rss = process.memoryUsage().rss
    const variants = (n: number) =>
      [...'america/new_york'].map((ch, i) => ((n >> (i % 16)) & 1 ? ch.toUpperCase() : ch)).join('')
    for (let n = 0; n < 20_000; n++) localDay(0, variants(n))
    // a formatter per spelling cost ~27 KB each: 20,000 of them were over 500 MB
    assert.ok(
      process.memoryUsage().rss - rss < 100 * 1024 * 1024,
      `grew ${process.memoryUsage().rss - rss} bytes`,
    )
  })

  test('valid zones', () => {
    assert.equal(validTimeZone('Europe/Berlin'), true)
    assert.equal(validTimeZone('UTC'), true)
    assert.equal(validTimeZone('Mars/Olympus'), false)
    assert.equal(validTimeZone(''), false)
  })
})
