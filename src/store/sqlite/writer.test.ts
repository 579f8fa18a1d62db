/**
 * The group-commit writer and its checkpoints, on a real SQLite file in WAL mode with the store's durable
 * settings (SQLite does not sync; the writer fdatasyncs the WAL).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, describe, test } from 'node:test'
import { createWriter } from './writer.ts'

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function durableFile() {
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-writer-'))
  dirs.push(dir)
  const path = join(dir, 'w.db')
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('PRAGMA synchronous = OFF')
  db.exec('PRAGMA wal_autocheckpoint = 0')
  db.exec('PRAGMA temp_store = MEMORY')
  db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)')
  return { db, path }
}

const count = (db: DatabaseSync) =>
  Number((db.prepare('SELECT count(*) AS n FROM rows').get() as { n: number }).n)

describe('writer', () => {
  test('operations of one turn share a transaction, each run once', async () => {
    const { db, path } = durableFile()
    const writer = createWriter(db, { walPath: `${path}-wal` })
    const insert = db.prepare('INSERT INTO rows (id, body) VALUES (?, ?)')
    let runs = 0
    const ids = await Promise.all(
      [1, 2, 3].map((id) =>
        writer.run(() => {
          runs++
          insert.run(id, 'x')
          return id
        }),
      ),
    )
    assert.deepEqual(ids, [1, 2, 3])
    assert.equal(runs, 3)
    assert.equal(count(db), 3)
    assert.equal(writer.stats().transactions, 1)
    db.close()
  })

  test('a failing operation rolls back alone; the others run again and are written once', async () => {
    const { db, path } = durableFile()
    const writer = createWriter(db, { walPath: `${path}-wal` })
    const insert = db.prepare('INSERT INTO rows (id, body) VALUES (?, ?)')
    let runsOfFirst = 0
    const results = await Promise.allSettled([
      writer.run(() => {
        runsOfFirst++
        insert.run(1, 'a')
      }),
      writer.run(() => {
        insert.run(2, 'b')
        insert.run(1, 'duplicate') // fails: its own row 2 must not stay either
      }),
      writer.run(() => insert.run(3, 'c')),
    ])
    // first without savepoints, then (after the failure) the batch again with one savepoint per operation
    assert.equal(runsOfFirst, 2)
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    )
    assert.deepEqual(
      (db.prepare('SELECT id FROM rows ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id),
      [1, 3],
    )
    assert.equal(writer.stats().transactions, 1)
    assert.ok(writer.stats().syncs >= 1, 'acknowledged only after an fdatasync of the WAL')
    db.close()
  })

  for (const [what, every] of [
    ['operations', { operations: 10, rows: 1e9 }],
    ['rows', { operations: 1e9, rows: 1000 }],
  ] as const)
    test(`a checkpoint every so many ${what} lets the WAL start over`, async () => {
      const { db, path } = durableFile()
      const writer = createWriter(db, { walPath: `${path}-wal`, checkpointEvery: every })
      const insert = db.prepare('INSERT INTO rows (body) VALUES (?)')
      const body = 'x'.repeat(1500)
      // 40 operations of 100 rows: a checkpoint after every 10th operation (1,000 rows)
      for (let i = 0; i < 40; i++)
        await writer.run(() => {
          for (let k = 0; k < 100; k++) insert.run(body)
        })
      const state = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as {
        log: number
        checkpointed: number
      }
      assert.equal(count(db), 4000)
      // the WAL restarted after the third checkpoint: it holds the frames of the last ten operations only
      assert.ok(state.log < 1000, `WAL holds ${state.log} frames`)
      db.close()
    })
})
