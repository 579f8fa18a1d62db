/**
 * A migrated SQLite store in a fresh temporary directory, and the cleanup that closes it and removes the
 * directory (with any other store the test opened there).
 *
 * @example
 *   const t = await tempSqliteStore('closeloop-watch-'); … t.store …; await t.cleanup()
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite/index.ts'
import type { Store } from '../../src/store/types.ts'

export async function tempSqliteStore(prefix: string, file = 'closeloop.db') {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const path = join(dir, file)
  const store: Store = openSqliteStore(path)
  await store.migrate()
  return {
    dir,
    path,
    store,
    async cleanup() {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
