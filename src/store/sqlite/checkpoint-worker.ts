/**
 * The checkpointer's thread (see checkpointer.ts): a second connection to the store's file that copies the
 * WAL into the main file when asked. `synchronous = FULL` makes SQLite sync the WAL before copying and the
 * main file before it records the frames as copied, so the writer may start the WAL over only once the main
 * file is durable. A PASSIVE checkpoint never takes the write lock: the writer's commits go on meanwhile.
 */
import { DatabaseSync } from 'node:sqlite'
import { parentPort, workerData } from 'node:worker_threads'

const db = new DatabaseSync((workerData as { path: string }).path)
db.exec('PRAGMA synchronous = FULL')
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')

parentPort?.on('message', (msg: 'checkpoint' | 'close') => {
  if (msg === 'close') {
    db.close()
    parentPort?.close()
    return
  }
  try {
    const r = checkpoint.get() as { busy: number; log: number; checkpointed: number }
    parentPort?.postMessage({
      busy: Number(r.busy),
      log: Number(r.log),
      checkpointed: Number(r.checkpointed),
    })
  } catch (err) {
    parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) })
  }
})
