/**
 * The postback receiver: a `node:http` server in the bench process that records when each postback arrives,
 * keyed by the `id` query parameter (the event's `ext.bench_id`, echoed by the postback URL template).
 * It lives in the bench process so arrival and send times come from the same clock (`performance.now`);
 * sharing the load generator's event loop can only delay the recorded arrival, so measured latency errs high.
 *
 * @example
 *   const rx = await startReceiver(); …postback url `http://127.0.0.1:${rx.port}/pb?id={ext.bench_id}`…
 *   await rx.waitFor(ids, 5000); rx.arrivals.get(id); await rx.close()
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import { performance } from 'node:perf_hooks'

export interface Receiver {
  port: number
  /** id → first arrival time (performance.now). */
  arrivals: Map<string, number>
  /** Postbacks for an id already seen (at-least-once delivery makes a few legitimate). */
  duplicates(): number
  /** Resolves when every id has arrived or the timeout passed; returns how many are still missing. */
  waitFor(ids: Iterable<string>, timeoutMs: number): Promise<number>
  close(): Promise<void>
}

export async function startReceiver(): Promise<Receiver> {
  const arrivals = new Map<string, number>()
  let dups = 0
  const server = createServer((req, res) => {
    // record before anything else: headers are parsed, a GET postback has no body to wait for
    const at = performance.now()
    const q = req.url?.indexOf('id=') ?? -1
    if (q >= 0) {
      const rest = req.url!.slice(q + 3)
      const amp = rest.indexOf('&')
      const id = decodeURIComponent(amp >= 0 ? rest.slice(0, amp) : rest)
      if (arrivals.has(id)) dups++
      else arrivals.set(id, at)
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
  })
  server.keepAliveTimeout = 72_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0

  return {
    port,
    arrivals,
    duplicates: () => dups,
    async waitFor(ids, timeoutMs) {
      const want = [...ids]
      const deadline = performance.now() + timeoutMs
      for (;;) {
        const missing = want.reduce((n, id) => n + (arrivals.has(id) ? 0 : 1), 0)
        if (missing === 0 || performance.now() >= deadline) return missing
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
