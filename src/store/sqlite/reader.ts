/**
 * Reads that may walk whole tables, on a thread of their own over a read-only connection: the counts of
 * `GET /v1/stats`, a subject deletion's substring search, and delivery listings (`GET /v1/deliveries`, whose
 * filters the id order may serve badly). Measured on the event loop (2 × AMD EPYC, a database of 1,000,000
 * events with a signal and a delivery each): the counts held it ~100 ms per call, and the dashboard asks
 * every 5 s; a subject's LIKE search took ~750 ms per table of 600-byte bodies, several seconds per
 * deletion. Every request and postback of those milliseconds waited, where the call-connected
 * path's budget is 10 ms. On the thread the scans cost the other core instead. In WAL mode the thread reads
 * the last commit's snapshot and never takes a lock the writer needs.
 *
 * The thread starts at the first read and keeps the process alive only while a read is outstanding.
 *
 * @example
 *   const reader = createReader('./data/closeloop.db')
 *   await reader.all('SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status', [])
 *   await reader.close()
 */
import type { SQLInputValue } from 'node:sqlite'
import type { Worker } from 'node:worker_threads'
import { closeThread, startThread } from './thread.ts'

export type Row = Record<string, unknown>

export interface Reader {
  all(sql: string, params: SQLInputValue[]): Promise<Row[]>
  close(): Promise<void>
}

/** What the thread answers: one message per read, by its id. */
export type ReaderAnswer = { id: number; rows: Row[] } | { id: number; error: string }

export function createReader(path: string): Reader {
  let worker: Worker | undefined
  let nextId = 0
  const waiting = new Map<number, { resolve: (rows: Row[]) => void; reject: (e: Error) => void }>()

  /** The read `id` is answered (or never sent): the thread may sleep once none is left. */
  function settled(id: number) {
    const p = waiting.get(id)
    waiting.delete(id)
    if (waiting.size === 0) worker?.unref()
    return p
  }

  function failAll(err: Error) {
    for (const w of waiting.values()) w.reject(err)
    waiting.clear()
  }

  function start(): Worker {
    const w = startThread(new URL('./reader-worker.ts', import.meta.url), path)
    w.on('message', (m: ReaderAnswer) => {
      const p = settled(m.id)
      if ('error' in m) p?.reject(new Error(m.error))
      else p?.resolve(m.rows)
    })
    w.on('error', (err) => failAll(err))
    w.on('exit', (code) => {
      if (worker === w) worker = undefined
      failAll(new Error(`reader thread exited (${code})`))
    })
    return w
  }

  return {
    all(sql, params) {
      worker ??= start()
      const w = worker
      const id = nextId++
      return new Promise<Row[]>((resolve, reject) => {
        waiting.set(id, { resolve, reject })
        w.ref()
        try {
          w.postMessage({ id, sql, params })
        } catch (err) {
          // parameters that cannot be cloned: this read fails alone
          settled(id)
          reject(err)
        }
      })
    },
    async close() {
      const w = worker
      worker = undefined
      await closeThread(w)
    },
  }
}
