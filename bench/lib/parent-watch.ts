/**
 * Preloaded into every benchmark child (`node --import ./bench/lib/parent-watch.ts …`): the child exits as
 * soon as its stdin pipe closes, i.e. when the bench process is gone. Signals handlers in the parent cover
 * Ctrl-C and errors; this covers the parent being SIGKILLed or crashing hard, so no server is ever orphaned
 * holding a port and a SQLite file.
 */
import { isMainThread } from 'node:worker_threads'

// a worker thread's stdin ends at once, and its process.exit would end that thread
if (isMainThread) {
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.stdin.resume()
  // stdin must not keep a child alive that would otherwise finish on its own
  process.stdin.unref?.()
}
