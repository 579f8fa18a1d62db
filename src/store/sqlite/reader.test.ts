import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, test } from 'node:test'
import { SQLITE_MIGRATIONS } from './migrations.ts'
import { createReader } from './reader.ts'

describe('reads on their own thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-reader-'))
  const path = join(dir, 'reader.db')
  // the store's connection, in WAL mode as openSqliteDatabase sets it; it stays open like the writer's
  const db = new DatabaseSync(path)
  const reader = createReader(path)
  const COUNTS = 'SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status ORDER BY status'
  const plain = (rows: unknown[]) => rows.map((r) => ({ ...(r as object) }))

  before(() => {
    db.exec('PRAGMA journal_mode = WAL')
    for (const m of SQLITE_MIGRATIONS) db.exec(m.sql)
    const statuses = ['delivered', 'delivered', 'delivered', 'pending', 'dead', 'skipped', 'in_flight']
    const delivery = db.prepare(
      "INSERT INTO deliveries (id, signal_id, destination, status, due_at, idempotency_key, created_at, updated_at) VALUES (?, ?, 'pb', ?, 1, ?, 1, 1)",
    )
    db.exec('BEGIN')
    // enough rows that reading them is work (a scan of ~10 ms inline here), not a lookup
    for (let i = 0; i < 150_000; i++)
      delivery.run(`dlv_${i}`, `sig_${i}`, statuses[i % statuses.length], `k${i}`)
    db.exec('COMMIT')
  })

  after(async () => {
    await reader.close()
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('reads what the store’s own connection reads, as of its last commit', async () => {
    assert.deepEqual(plain(await reader.all(COUNTS, [])), plain(db.prepare(COUNTS).all()))
    // a commit on the store's connection is in the thread's next read
    const PENDING = 'SELECT COUNT(*) AS n FROM deliveries WHERE status = ?'
    const before = Number((await reader.all(PENDING, ['pending']))[0].n)
    db.prepare("UPDATE deliveries SET status = 'delivered' WHERE id = ?").run('dlv_3') // i = 3: pending
    assert.equal(Number((await reader.all(PENDING, ['pending']))[0].n), before - 1)
  })

  test('the event loop keeps turning while the thread reads; inline, it stops', async () => {
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
    assert.ok((await turnsDuring(() => reader.all(COUNTS, []))) > 0, 'no turn while the thread read')
    // the same read on this thread: not one turn until it is done
    assert.equal(await turnsDuring(async () => db.prepare(COUNTS).all()), 0)
  })

  test('reads in flight together each get their own rows; a failing one fails alone', async () => {
    const [a, bad, b] = await Promise.allSettled([
      reader.all('SELECT ? AS x', ['first']),
      reader.all('SELECT nope FROM nowhere', []),
      reader.all('SELECT ? AS x', ['second']),
    ])
    assert.deepEqual(a.status === 'fulfilled' && plain(a.value), [{ x: 'first' }])
    assert.deepEqual(b.status === 'fulfilled' && plain(b.value), [{ x: 'second' }])
    assert.match(bad.status === 'rejected' ? String(bad.reason) : '', /no such table: nowhere/)
    // a parameter that cannot cross to the thread fails that read, before it is sent
    await assert.rejects(reader.all('SELECT ? AS x', [(() => 1) as unknown as string]), /could not be cloned/)
    assert.deepEqual(plain(await reader.all('SELECT 1 AS x', [])), [{ x: 1 }])
  })

  test('its connection cannot write', async () => {
    await assert.rejects(reader.all("DELETE FROM deliveries WHERE id = 'dlv_0'", []), /readonly/)
    assert.equal(
      Number((db.prepare('SELECT COUNT(*) AS n FROM deliveries').get() as { n: number }).n),
      150_000,
    )
  })
})
