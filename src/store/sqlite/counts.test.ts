import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, test } from 'node:test'
import { countRows, createCounter } from './counts.ts'
import { SQLITE_MIGRATIONS } from './migrations.ts'

describe('counts on their own thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-counts-'))
  const path = join(dir, 'counts.db')
  // the store's connection: WAL, as openSqliteDatabase sets it; it stays open like the writer's
  const db = new DatabaseSync(path)
  const counter = createCounter(path)

  before(() => {
    db.exec('PRAGMA journal_mode = WAL')
    for (const m of SQLITE_MIGRATIONS) db.exec(m.sql)
    const statuses = ['delivered', 'delivered', 'delivered', 'pending', 'dead', 'skipped', 'in_flight']
    const event = db.prepare(
      "INSERT INTO events (id, raw_id, dedup_key, status, data_set_id, event_type, occurred_at, body, created_at) VALUES (?, 'r', ?, 'accepted', 'ds', 'contact', 1, '{}', 1)",
    )
    const signal = db.prepare(
      "INSERT INTO signals (id, event_id, name, data_set_id, occurred_at, body, created_at) VALUES (?, ?, 'contact', 'ds', 1, '{}', 1)",
    )
    const delivery = db.prepare(
      "INSERT INTO deliveries (id, signal_id, destination, status, due_at, idempotency_key, created_at, updated_at) VALUES (?, ?, 'pb', ?, 1, ?, 1, 1)",
    )
    db.exec('BEGIN')
    // enough rows that counting them is work (~15 ms inline here), not a lookup
    for (let i = 0; i < 150_000; i++) {
      event.run(`evt_${i}`, `k${i}`)
      if (i % 3 === 0) continue
      signal.run(`sig_${i}`, `evt_${i}`)
      delivery.run(`dlv_${i}`, `sig_${i}`, statuses[i % statuses.length], `sig_${i}`)
    }
    db.exec('COMMIT')
  })

  after(async () => {
    await counter.close()
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('counts what the store’s own connection counts, as of the last commit', async () => {
    const expected = countRows(db)
    assert.equal(expected.events, 150_000)
    assert.equal(expected.signals, 100_000)
    assert.deepEqual(await counter.counts(), expected)
    db.prepare(
      "INSERT INTO events (id, raw_id, dedup_key, status, data_set_id, event_type, occurred_at, body, created_at) VALUES ('evt_new', 'r', 'knew', 'accepted', 'ds', 'contact', 1, '{}', 1)",
    ).run()
    assert.equal((await counter.counts()).events, 150_001)
  })

  test('the event loop keeps turning while the thread counts; inline, it stops', async () => {
    const turnsDuring = async (work: () => Promise<unknown>) => {
      let turns = 0
      let spinning = true
      const spin = () => {
        turns++
        if (spinning) setImmediate(spin)
      }
      setImmediate(spin)
      await work()
      spinning = false
      return turns
    }
    assert.ok((await turnsDuring(() => counter.counts())) > 0, 'no turn while the thread counted')
    // the same counts on this thread: not one turn until they are done
    assert.equal(await turnsDuring(async () => countRows(db)), 0)
  })

  test('calls made while a count runs share its answer', async () => {
    const [a, b] = [counter.counts(), counter.counts()]
    assert.equal(a, b)
    assert.deepEqual(await a, countRows(db))
  })
})
