/**
 * An online backup of a SQLite store, taken beside a running server: `VACUUM INTO` on a read-only
 * connection of its own copies one consistent snapshot (in WAL mode the server's writer goes on committing
 * meanwhile and is never blocked) into a compact file that needs no WAL. The copy is written under a
 * temporary name, checked (`PRAGMA quick_check`), synced, and only then renamed to `target`, so a file at
 * `target` is always a whole backup. It holds what the store holds, raw PII within `retention` included.
 *
 * @example
 *   const { bytes } = backupSqlite('./data/closeloop.db', '/backups/closeloop-2026-12-06.db')
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'

export function backupSqlite(source: string, target: string): { bytes: number; ms: number } {
  if (!existsSync(source)) throw new Error(`no database at ${source}`)
  if (existsSync(target)) throw new Error(`${target} exists: a backup never overwrites a file`)
  const started = performance.now()
  const partial = `${target}.partial`
  rmSync(partial, { force: true })
  const db = new DatabaseSync(source, { readOnly: true })
  try {
    db.prepare('VACUUM INTO ?').run(partial)
  } catch (err) {
    rmSync(partial, { force: true })
    throw err
  } finally {
    db.close()
  }
  try {
    const copy = new DatabaseSync(partial, { readOnly: true })
    try {
      const check = copy.prepare('PRAGMA quick_check').all() as Array<{ quick_check: string }>
      if (check.length !== 1 || check[0].quick_check !== 'ok')
        throw new Error(`the copy failed its check: ${check.map((c) => c.quick_check).join('; ')}`)
    } finally {
      copy.close()
    }
    syncFile(partial)
    renameSync(partial, target)
    syncFile(dirname(target))
  } catch (err) {
    rmSync(partial, { force: true })
    throw err
  }
  return { bytes: statSync(target).size, ms: performance.now() - started }
}

/** fsync a file or directory: the copy (and its name) survive a power loss once `backupSqlite` returns. */
function syncFile(path: string) {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
