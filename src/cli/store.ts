/**
 * The store a one-off command works on: it must already exist and be migrated. Opening a SQLite path that
 * holds nothing would create a database there, and migrating from a command would upgrade the schema behind
 * nodes given `migrate: false` (a release step's job): `report` and `replay` change neither.
 *
 * @example const store = await openExistingStore(config) // throws "no database at ./data/closeloop.db"
 */
import { existsSync } from 'node:fs'
import type { ResolvedConfig } from '../config/load.ts'
import { openStore } from '../store/open.ts'
import type { Store } from '../store/types.ts'

export async function openExistingStore(config: ResolvedConfig): Promise<Store> {
  const where = config.store ?? { sqlite: './data/closeloop.db' }
  if ('sqlite' in where && !existsSync(where.sqlite)) throw new Error(`no database at ${where.sqlite}`)
  const store = await openStore(where)
  const pending = await store.pendingMigrations().catch(async (err) => {
    await store.close()
    throw err
  })
  if (pending.length) {
    await store.close()
    throw new Error(`the database lacks migrations ${pending.join(', ')}: run closeloop migrate first`)
  }
  return store
}
