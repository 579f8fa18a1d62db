/**
 * Online backups of a real SQLite store while its writer keeps committing: the copy is whole, consistent
 * and opens as a store; a target that exists is refused, and a failure leaves no file behind.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { deliverAt } from '../../../test/helpers/deliveries.ts'
import { tempSqliteStore } from '../../../test/helpers/sqlite.ts'
import type { Store } from '../types.ts'
import { backupSqlite } from './backup.ts'
import { openSqliteStore } from './index.ts'

describe('SQLite backup', () => {
  let dir: string
  let store: Store
  let cleanup: () => Promise<void>
  before(async () => {
    ;({ dir, store, cleanup } = await tempSqliteStore('closeloop-backup-', 'live.db'))
    await deliverAt(store, Date.now(), 500, ['gclid'], { campaign: 'ny' })
  })
  after(() => cleanup())

  test('a consistent copy of a store being written, which opens as a store', async () => {
    // the writer commits batches of 50 before and after the copy (the CLI's copy beside a running server,
    // in another process, is test/e2e/backup.test.ts)
    let writing = true
    const writes = (async () => {
      while (writing) await deliverAt(store, Date.now(), 50, [], { campaign: 'live' })
    })()
    await new Promise((r) => setTimeout(r, 30))
    const target = join(dir, 'copy.db')
    const { bytes } = backupSqlite(join(dir, 'live.db'), target)
    writing = false
    await writes
    assert.ok(bytes > 0)
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('copy.db')),
      ['copy.db'],
    )

    const copy = openSqliteStore(target)
    try {
      assert.deepEqual(await copy.pendingMigrations(), [])
      const c = await copy.counts()
      // a snapshot: whole batches only (one commit each), every signal with its delivery; a batch whose
      // attempts were not recorded yet is in flight (ingest and attempt record are two commits)
      assert.equal((c.events - 500) % 50, 0, `events ${c.events}`)
      assert.ok(c.events >= 500 && c.events <= (await store.counts()).events)
      assert.equal(c.signals, c.events)
      assert.equal((c.deliveries.delivered ?? 0) + (c.deliveries.in_flight ?? 0), c.events)
      assert.ok((c.deliveries.in_flight ?? 0) <= 50, JSON.stringify(c.deliveries))
      const [d] = await copy.listDeliveries({ limit: 1 })
      assert.deepEqual(d.matchKeys, ['gclid'])
    } finally {
      await copy.close()
    }
  })

  test('an existing target is refused; a failed copy leaves nothing', () => {
    const taken = join(dir, 'taken.db')
    writeFileSync(taken, 'something precious')
    assert.throws(() => backupSqlite(join(dir, 'live.db'), taken), /exists: a backup never overwrites a file/)
    const nowhere = join(dir, 'no', 'such', 'dir', 'copy.db')
    assert.throws(() => backupSqlite(join(dir, 'live.db'), nowhere))
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.partial')),
      [],
    )
    assert.throws(() => backupSqlite(join(dir, 'missing.db'), join(dir, 'x.db')), /no database at/)
    assert.equal(existsSync(join(dir, 'x.db')), false)
  })
})
