/**
 * The group-commit writer and its checkpoints, on a real SQLite file in WAL mode with the store's durable
 * settings (SQLite does not sync; the writer fdatasyncs the WAL; checkpoints run on a worker thread).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, describe, test } from 'node:test'
import { startCheckpointer } from './checkpointer.ts'
import { createWriter, type WriterOptions } from './writer.ts'

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

/** `n` single-row writes, 50 per turn of the event loop, as concurrent requests would arrive. */
async function write(run: (op: () => unknown) => Promise<unknown>, db: DatabaseSync, n: number) {
  const insert = db.prepare('INSERT INTO rows (body) VALUES (?)')
  const body = 'x'.repeat(1500)
  for (let i = 0; i < n; i += 50) {
    const turn = []
    for (let j = 0; j < 50 && i + j < n; j++) turn.push(run(() => insert.run(body)))
    await Promise.all(turn)
  }
}

const walBytes = (path: string) => statSync(`${path}-wal`).size
const count = (db: DatabaseSync) =>
  Number((db.prepare('SELECT count(*) AS n FROM rows').get() as { n: number }).n)

describe('writer', () => {
  test('operations of one turn share a transaction; a failing one rolls back alone', async () => {
    const { db, path } = durableFile()
    const writer = createWriter(db, { walPath: `${path}-wal` })
    const insert = db.prepare('INSERT INTO rows (id, body) VALUES (?, ?)')
    const results = await Promise.allSettled([
      writer.run(() => insert.run(1, 'a')),
      writer.run(() => {
        insert.run(2, 'b')
        insert.run(1, 'duplicate') // fails: its own row 2 must not stay either
      }),
      writer.run(() => insert.run(3, 'c')),
    ])
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

  test('checkpoints on a worker thread copy the WAL into the main file', async () => {
    const { db, path } = durableFile()
    const checkpointer = startCheckpointer(path)
    const writer = createWriter(db, { walPath: `${path}-wal` })
    await write(writer.run, db, 500)
    const frames = await checkpointer.run()
    assert.ok(frames > 100, `the WAL held ${frames} frames`)
    // nothing was written since: every frame is in the main file now
    const after = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number; checkpointed: number }
    assert.equal(after.checkpointed, after.log)
    await checkpointer.close()
    db.close()
    const reopened = new DatabaseSync(path)
    assert.equal(count(reopened), 500)
    reopened.close()
  })

  /**
   * A checkpoint beside a busy writer never finds every frame copied, so without the writer's catch-up the
   * WAL never restarts. The same load runs with and without it, so the bound is known to matter.
   */
  test('the WAL stays bounded while checkpoints run beside the writer', async () => {
    async function walAfterLoad(catchUpFrames: number) {
      const { db, path } = durableFile()
      const checkpointer = startCheckpointer(path)
      const opts: WriterOptions = {
        walPath: `${path}-wal`,
        checkpointEvery: 200,
        checkpoint: checkpointer.run,
        catchUpFrames,
      }
      const writer = createWriter(db, opts)
      await write(writer.run, db, 6000)
      await writer.drain()
      const bytes = walBytes(path)
      assert.equal(count(db), 6000)
      await checkpointer.close()
      db.close()
      return bytes
    }
    const bounded = await walAfterLoad(500)
    const unbounded = await walAfterLoad(Number.POSITIVE_INFINITY)
    // 6,000 rows of 1.5 KB are ~2,000 frames (8 MB); a restarting WAL holds a few checkpoints' worth
    assert.ok(bounded < 4_000_000, `bounded WAL is ${bounded} bytes`)
    assert.ok(unbounded > bounded, `WAL without catch-up ${unbounded} vs ${bounded} bytes`)
  })

  test('when the worker cannot checkpoint, the writer checkpoints on its own connection', async () => {
    const { db, path } = durableFile()
    let asked = 0
    const writer = createWriter(db, {
      walPath: `${path}-wal`,
      checkpointEvery: 100,
      checkpoint: () => {
        asked++
        return Promise.reject(new Error('worker gone'))
      },
    })
    await write(writer.run, db, 1000)
    await writer.drain()
    assert.equal(asked, 1, 'a failed worker is not asked again')
    const state = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number; checkpointed: number }
    assert.equal(count(db), 1000)
    // the in-thread checkpoints kept restarting the WAL: it holds far fewer than 1,000 rows' frames
    assert.ok(state.log < 300, `WAL holds ${state.log} frames`)
    db.close()
  })
})
