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

  test('the WAL stays bounded while checkpoints run beside the writer', async () => {
    const { db, path } = durableFile()
    const checkpointer = startCheckpointer(path)
    const writer = createWriter(db, {
      walPath: `${path}-wal`,
      checkpointEvery: 200,
      checkpoint: checkpointer.run,
      catchUpFrames: 500,
    })
    await write(writer.run, db, 20_000)
    await writer.drain()
    assert.equal(count(db), 20_000)
    // 20,000 rows of 1.5 KB fill ~45 MB of WAL; a restarting one holds a few checkpoints' worth (~6 MB)
    const bytes = walBytes(path)
    assert.ok(bytes < 15_000_000, `WAL is ${bytes} bytes`)
    await checkpointer.close()
    db.close()
  })

  /**
   * A checkpoint beside a busy writer never finds every frame copied, so the WAL would never restart. Past
   * the bound, writes wait for a second checkpoint, which then copies everything.
   */
  test('past the bound, writes wait while the worker copies the last frames', async () => {
    const { db, path } = durableFile()
    const answers: Array<(frames: number) => void> = []
    const writer = createWriter(db, {
      walPath: `${path}-wal`,
      checkpointEvery: 10,
      catchUpFrames: 100,
      checkpoint: () => new Promise<number>((resolve) => answers.push(resolve)),
    })
    await write(writer.run, db, 10)
    assert.equal(answers.length, 1, 'a checkpoint after 10 operations')
    answers[0](1000)
    await new Promise((r) => setImmediate(r))
    assert.equal(answers.length, 2, 'a WAL past the bound asks for a catch-up')
    let written = false
    const held = writer
      .run(() => db.prepare("INSERT INTO rows (body) VALUES ('held')").run())
      .then(() => {
        written = true
      })
    await new Promise((r) => setTimeout(r, 30))
    assert.equal(written, false, 'writes wait for the catch-up')
    assert.equal(count(db), 10)
    answers[1](0)
    await held
    assert.equal(count(db), 11)
    db.close()
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
