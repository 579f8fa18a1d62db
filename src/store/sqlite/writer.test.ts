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
import { createCheckpointer } from './checkpointer.ts'
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

  const walFrames = (db: DatabaseSync) =>
    (db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number }).log

  /** A durable writer that checkpoints `every` so often; `op` writes 100 rows of 1,500 bytes (~50 frames). */
  function checkpointing(every: { operations: number; rows: number }) {
    const { db, path } = durableFile()
    const writer = createWriter(db, {
      walPath: `${path}-wal`,
      checkpoints: { every, by: createCheckpointer(path) },
    })
    const insert = db.prepare('INSERT INTO rows (body) VALUES (?)')
    const body = 'x'.repeat(1500)
    const op = () => {
      for (let k = 0; k < 100; k++) insert.run(body)
    }
    return { db, writer, op }
  }

  for (const [what, every] of [
    ['operations', { operations: 10, rows: 1e9 }],
    ['rows', { operations: 1e9, rows: 1000 }],
  ] as const)
    test(`a checkpoint every so many ${what} runs on its thread and lets the WAL start over`, async () => {
      const { db, writer, op } = checkpointing(every)
      // 10 operations of 100 rows: the 10th reaches both thresholds and starts a checkpoint
      for (let i = 0; i < 10; i++) await writer.run(op)
      await writer.idle()
      assert.deepEqual({ ...writer.stats().checkpoints, waitMs: 0 }, { thread: 1, writer: 0, waitMs: 0 })
      // every frame is in the main file, so the next commit starts the WAL over: it holds that commit alone
      await writer.run(op)
      const frames = walFrames(db)
      assert.ok(frames > 0 && frames < 100, `WAL holds ${frames} frames`)
      await writer.close()
      assert.equal(count(db), 1100)
      db.close()
    })

  test('commits go on during the copy; the last pass holds them, and the WAL still starts over', async () => {
    const { db, writer, op } = checkpointing({ operations: 10, rows: 1e9 })
    // one operation in flight at every moment, as under steady load: checkpoints run beside commits (the
    // thread's start alone outlasts several), so without the last pass the WAL would never be all copied
    let ops = 0
    while (writer.stats().checkpoints.thread < 3 && ops < 1_000) {
      await writer.run(op)
      ops++
    }
    const { thread, writer: onWriter, waitMs } = writer.stats().checkpoints
    assert.deepEqual([thread, onWriter], [3, 0])
    // the thread's start alone outlasts a commit, so the first checkpoint had a last pass that held commits
    assert.ok(waitMs > 0)
    await writer.idle()
    await writer.run(op)
    // without restarts the WAL would hold every operation's frames (thousands)
    const frames = walFrames(db)
    assert.ok(frames < 300, `WAL holds ${frames} frames after ${ops} operations`)
    await writer.close()
    assert.equal(count(db), (ops + 1) * 100)
    db.close()
  })

  test('if the checkpointer thread fails, the writer checkpoints on its own connection', async () => {
    const { db, path } = durableFile()
    const writer = createWriter(db, {
      walPath: `${path}-wal`,
      checkpoints: {
        every: { operations: 2, rows: 1e9 },
        // the thread cannot open this path: every checkpoint it is asked for fails
        by: createCheckpointer(join(path, 'not-a-directory', 'w.db')),
      },
    })
    const insert = db.prepare('INSERT INTO rows (body) VALUES (?)')
    for (let i = 0; i < 10; i++) await writer.run(() => insert.run('x'))
    await writer.idle()
    const { checkpoints } = writer.stats()
    assert.equal(checkpoints.thread, 0)
    assert.ok(checkpoints.writer >= 1)
    assert.ok(checkpoints.waitMs > 0)
    await writer.run(() => insert.run('x'))
    assert.ok(walFrames(db) < 5, 'the WAL started over')
    await writer.close()
    assert.equal(count(db), 11)
    db.close()
  })
})
