/**
 * The SQLite store's helper threads (the checkpointer's and the reader's): each holds a second connection to
 * the store's file, starts unref'd (it keeps the process alive only while its owner waits on it), and is
 * closed by asking it to close its connection first.
 *
 * @example
 *   const w = startThread(new URL('./reader-worker.ts', import.meta.url), './data/closeloop.db')
 *   await closeThread(w)
 */
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'

export function startThread(script: URL, path: string): Worker {
  // no preloads (`--import`): the thread runs SQLite alone, and a preload written for the main thread can
  // end it (the benchmark's parent watch did, on the thread's empty stdin)
  const w = new Worker(script, { workerData: { path }, execArgv: [] })
  w.unref()
  return w
}

/** Asks the thread to close its connection and waits until it has exited. */
export async function closeThread(w: Worker | undefined): Promise<void> {
  if (!w) return
  w.ref()
  const exited = once(w, 'exit')
  w.postMessage('close')
  await exited
}
