/**
 * An online backup of a SQLite store, taken beside a running server: `VACUUM INTO` on a read-only
 * connection of its own copies one consistent snapshot (in WAL mode the server's writer goes on committing
 * meanwhile and is never blocked) into a compact file that needs no WAL. The copy is written under a
 * temporary name of its own, checked (`PRAGMA quick_check`), synced, and only then linked to `target` (which
 * fails if `target` exists), so a file at `target` is always a whole backup. It holds what the store holds, raw PII within `retention` included.
 *
 * @example
 *   const { bytes } = backupSqlite('./data/closeloop.db', '/backups/closeloop-2026-12-06.db')
 */
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, linkSync, openSync, rmSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'

export function backupSqlite(source: string, target: string): { bytes: number; ms: number } {
  if (!existsSync(source)) throw new Error(`no database at ${source}`)
  if (existsSync(target)) throw new Error(`${target} exists: a backup never overwrites a file`)
  const started = performance.now()
  // a name of its own: two backups to one target at once must not write into each other's file
  const partial = `${target}.${process.pid}-${randomBytes(4).toString('hex')}.partial`
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
    // published by a link, which fails if `target` appeared meanwhile (a rename would replace it)
    linkSync(partial, target)
    syncFile(dirname(target))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new Error(`${target} exists: a backup never overwrites a file`)
    throw err
  } finally {
    rmSync(partial, { force: true })
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
