/**
 * The store's counts (`GET /v1/stats`, the dashboard) on a thread of their own, over a read-only connection.
 * `COUNT(*)` walks a whole index: on the event loop, a database of 1,000,000 events with a delivery each
 * held it ~100 ms per call (deliveries by status ~60 ms, events and signals ~35 ms; 2 × AMD EPYC), and the
 * dashboard asks every 5 s, so every request and postback of those milliseconds waited, where the
 * call-connected path's budget is 10 ms. On the thread the scan costs the other core instead. Calls made
 * while a count runs share its answer. An in-memory database (tests) has no file to share: it counts inline.
 *
 * @example
 *   const counter = createCounter('./data/closeloop.db')
 *   await counter.counts() // { deliveries: { delivered: 10, pending: 1 }, events: 12, signals: 11 }
 */
import { once } from 'node:events'
import type { DatabaseSync } from 'node:sqlite'
import { Worker } from 'node:worker_threads'

export interface StoreCounts {
  deliveries: Record<string, number>
  events: number
  signals: number
}

/** The counts, on whichever connection runs them. */
export function countRows(db: DatabaseSync): StoreCounts {
  const deliveries: Record<string, number> = {}
  for (const r of db.prepare('SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status').all())
    deliveries[String(r.status)] = Number(r.n)
  const t = db
    .prepare('SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM signals) AS signals')
    .get()
  return { deliveries, events: Number(t?.events ?? 0), signals: Number(t?.signals ?? 0) }
}

export interface Counter {
  counts(): Promise<StoreCounts>
  close(): Promise<void>
}

export function createCounter(path: string): Counter {
  let worker: Worker | undefined
  let running: { promise: Promise<StoreCounts>; settle: (m: StoreCounts | Error) => void } | undefined

  function answer(m: StoreCounts | Error) {
    const r = running
    running = undefined
    worker?.unref()
    r?.settle(m)
  }

  function start(): Worker {
    // no preloads: the thread runs SQLite alone (as the checkpointer's, see checkpointer.ts)
    const w = new Worker(new URL('./count-worker.ts', import.meta.url), {
      workerData: { path },
      execArgv: [],
    })
    w.unref()
    w.on('message', (m: StoreCounts | { error: string }) => answer('error' in m ? new Error(m.error) : m))
    w.on('error', (err) => answer(err))
    w.on('exit', (code) => {
      if (worker === w) worker = undefined
      answer(new Error(`counting thread exited (${code})`))
    })
    return w
  }

  return {
    counts() {
      if (running) return running.promise
      worker ??= start()
      const w = worker
      let settle!: (m: StoreCounts | Error) => void
      const promise = new Promise<StoreCounts>((resolve, reject) => {
        settle = (m) => (m instanceof Error ? reject(m) : resolve(m))
      })
      running = { promise, settle }
      w.ref()
      w.postMessage('count')
      return promise
    },
    async close() {
      const w = worker
      worker = undefined
      if (!w) return
      w.ref()
      const exited = once(w, 'exit')
      w.postMessage('close')
      await exited
    },
  }
}
