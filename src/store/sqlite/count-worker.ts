/**
 * The counting thread (see counts.ts): a read-only connection to the store's file. In WAL mode it reads the
 * last commit's snapshot while the writer goes on, and never takes a lock the writer needs.
 */
import { DatabaseSync } from 'node:sqlite'
import { parentPort, workerData } from 'node:worker_threads'
import { countRows } from './counts.ts'

const db = new DatabaseSync((workerData as { path: string }).path, { readOnly: true })

parentPort?.on('message', (msg: 'count' | 'close') => {
  if (msg === 'close') {
    db.close()
    parentPort?.close()
    return
  }
  try {
    parentPort?.postMessage(countRows(db))
  } catch (err) {
    parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) })
  }
})
