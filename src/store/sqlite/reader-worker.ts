/** The reader's thread (see reader.ts): a read-only connection to the store's file, one read at a time. */
import { DatabaseSync, type SQLInputValue } from 'node:sqlite'
import { parentPort, workerData } from 'node:worker_threads'
import type { ReaderAnswer, Row } from './reader.ts'

const db = new DatabaseSync((workerData as { path: string }).path, { readOnly: true })

parentPort?.on('message', (msg: 'close' | { id: number; sql: string; params: SQLInputValue[] }) => {
  if (msg === 'close') {
    db.close()
    parentPort?.close()
    return
  }
  let answer: ReaderAnswer
  try {
    // prepared per read: each is a scan, next to which parsing costs nothing
    answer = { id: msg.id, rows: db.prepare(msg.sql).all(...msg.params) as Row[] }
  } catch (err) {
    answer = { id: msg.id, error: err instanceof Error ? err.message : String(err) }
  }
  parentPort?.postMessage(answer)
})
