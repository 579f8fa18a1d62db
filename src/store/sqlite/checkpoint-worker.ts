/**
 * The checkpointer's thread (see checkpointer.ts): its own connection to the store's file, run with
 * `synchronous = FULL`, so SQLite fsyncs the main file before it marks WAL frames as copied and a writer
 * may reuse them. Each message is one PASSIVE checkpoint; the answer is the WAL's length in frames.
 */
import { DatabaseSync } from 'node:sqlite'
import { parentPort, workerData } from 'node:worker_threads'

const db = new DatabaseSync(String(workerData.path))
db.exec('PRAGMA busy_timeout = 5000')
db.exec('PRAGMA synchronous = FULL')
db.exec('PRAGMA wal_autocheckpoint = 0')
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')

parentPort?.on('message', function runCheckpoint() {
  try {
    const r = checkpoint.get() as { busy: number; log: number; checkpointed: number }
    parentPort?.postMessage({ ok: true, log: r.log, checkpointed: r.checkpointed })
  } catch (err) {
    parentPort?.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) })
  }
})
