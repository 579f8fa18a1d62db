/**
 * WAL checkpoints off the event loop. A checkpoint copies WAL pages into the main file and fsyncs it; run
 * on the writer's connection it blocked the event loop for 20 % of the samples of an ingest benchmark
 * (`.tmp`-style in-process run of 60,000 single-event requests, 2 vCPUs), during which no request was parsed
 * and no conversion sent. SQLite lets a PASSIVE checkpoint run beside a writer on another connection, so it
 * runs on a worker thread with a connection of its own; the writer only asks for one.
 *
 * @example
 *   const cp = startCheckpointer('/data/closeloop.db'); await cp.run(); await cp.close()
 */
import { Worker } from 'node:worker_threads'

export interface Checkpointer {
  /** One PASSIVE checkpoint; settles with the WAL's length in frames when it is done (a second request meanwhile shares it). */
  run(): Promise<number>
  close(): Promise<void>
}

export function startCheckpointer(path: string): Checkpointer {
  let worker: Worker | undefined
  let inFlight: Promise<number> | undefined
  let failed: Error | undefined

  /** Started at the first checkpoint: a store that never fills its WAL (tests, tools) needs no thread. */
  function started(): Worker {
    if (worker) return worker
    worker = new Worker(new URL('./checkpoint-worker.ts', import.meta.url), { workerData: { path } })
    // the store's close() ends it; a store that is never closed must not keep the process alive
    worker.unref()
    worker.on('error', (err) => {
      failed = err
    })
    return worker
  }

  function run(): Promise<number> {
    if (failed) return Promise.reject(failed)
    const worker = started()
    inFlight ??= new Promise<number>((resolve, reject) => {
      const done = (m: { ok: boolean; log?: number; message?: string }) => {
        worker.off('error', reject)
        inFlight = undefined
        if (m.ok) resolve(Number(m.log))
        else reject(new Error(`checkpoint failed: ${m.message}`))
      }
      worker.once('message', done)
      worker.once('error', reject)
      worker.postMessage('checkpoint')
    })
    return inFlight
  }

  return {
    run,
    async close() {
      await inFlight?.catch(() => undefined)
      await worker?.terminate()
    },
  }
}
