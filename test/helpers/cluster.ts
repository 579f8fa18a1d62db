/**
 * Scale-out test rig: closeloop `serve` child processes on one PostgreSQL database, and a loopback postback
 * receiver that records, per signal id, the interval each request was open (arrival to response end or
 * connection close), so a test can prove no delivery was ever in flight from two nodes at once.
 *
 * @example
 *   const rx = await startIntervalReceiver(); const n = await startNode({ name: 'a', dbUrl, receiverUrl: rx.url })
 *   await n.post([event]); n.kill(); await rx.close()
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

export const CLUSTER_KEY = 'cluster-test-key-0123456789'

export async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as AddressInfo).port
  await new Promise((r) => srv.close(r))
  return port
}

export interface NodeOptions {
  name: string
  dbUrl: string
  receiverUrl: string
  poolSize?: number
  concurrency?: number
  timeoutMs?: number
  leaseS?: number
  sweepIntervalMs?: number
}

export interface ClusterNode {
  name: string
  url: string
  child: ChildProcess
  /** The last ~32 KB the child wrote to stderr (warnings, crashes). */
  stderr(): string
  /** POST /v1/events; resolves with status and parsed body, rejects on a network error or after `timeoutMs`. */
  post(body: unknown, timeoutMs?: number): Promise<{ status: number; body: unknown; ms: number }>
  ready(): Promise<boolean>
  kill(): Promise<void>
  cleanup(): Promise<void>
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => child.once('exit', () => r()))

/** Starts `node src/main.ts serve` on a free port; resolves once `/healthz` answers. */
export async function startNode(o: NodeOptions): Promise<ClusterNode> {
  const dir = mkdtempSync(join(tmpdir(), `closeloop-node-${o.name}-`))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const configPath = join(dir, 'closeloop.yaml')
  writeFileSync(
    configPath,
    `
server: { port: ${port}, host: 127.0.0.1, max_batch_events: 1000 }
store: { postgres: "${o.dbUrl}", pool_size: ${o.poolSize ?? 8} }
api_keys: [{ name: t, key: ${CLUSTER_KEY} }]
log: { level: warn }
delivery: { lease_s: ${o.leaseS ?? 8}, sweep_interval_ms: ${o.sweepIntervalMs ?? 200}, retry_schedule_s: [0.2, 0.5, 1, 2, 2, 2, 2, 2] }
destinations:
  pb:
    type: postback
    url: "${o.receiverUrl}/pb/${o.name}?sig={event_id}&n={delivery_id}"
    allow_private: true
    concurrency: ${o.concurrency ?? 8}
    timeout_ms: ${o.timeoutMs ?? 2000}
routes: [ { signals: ["*"], to: [pb] } ]
`,
  )
  const guard = fileURLToPath(new URL('./orphan-guard.ts', import.meta.url))
  const child = spawn(process.execPath, ['--import', guard, 'src/main.ts', 'serve', '--config', configPath], {
    // stdin stays open while this process lives: the guard exits the child when it closes
    stdio: ['pipe', 'ignore', 'pipe'],
  })
  let tail = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (s: string) => {
    tail = (tail + s).slice(-32_768)
  })
  const node: ClusterNode = {
    name: o.name,
    url,
    child,
    stderr: () => tail,
    async post(body, timeoutMs = 30_000) {
      const t0 = performance.now()
      const res = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLUSTER_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      })
      const text = await res.text()
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch {}
      return { status: res.status, body: parsed, ms: performance.now() - t0 }
    },
    async ready() {
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })
        await res.arrayBuffer()
        return res.ok
      } catch {
        return false
      }
    },
    async kill() {
      child.kill('SIGKILL')
      await exited(child)
    },
    async cleanup() {
      child.kill('SIGKILL')
      await exited(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  // a loaded CI machine can take a while to compile and start a process
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node ${o.name} exited ${child.exitCode}: ${tail}`)
    try {
      if ((await fetch(`${url}/healthz`)).ok) break
    } catch {}
    if (Date.now() > deadline) {
      await node.cleanup()
      throw new Error(`node ${o.name} not ready after 60 s: ${tail}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return node
}

/**
 * Starts nodes in parallel, pushing each into `into` as soon as it runs, so a caller's `finally` cleans up
 * the ones that started even when another failed to.
 */
export async function startNodes(opts: NodeOptions[], into: ClusterNode[]): Promise<void> {
  const results = await Promise.allSettled(
    opts.map(async (o) => {
      const n = await startNode(o)
      into.push(n)
      return n
    }),
  )
  const failed = results.find((r) => r.status === 'rejected')
  if (failed) throw failed.reason
  into.sort((a, b) => (a.name < b.name ? -1 : 1))
}

export interface Hit {
  /** Signal id (the idempotency key). */
  sig: string
  /** The node whose config sent it (`/pb/<node>`). */
  node: string
  delivery: string
  /** performance.now() at arrival and at response end or connection close. */
  start: number
  end: number
}

/**
 * A postback receiver answering 200 after `delayMs`, recording every request's open interval. Requests
 * still open (their sender died) end when their connection closes.
 */
export async function startIntervalReceiver(delayMs = 3) {
  const hits: Hit[] = []
  const seen = new Set<string>()
  const server = createHttpServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x')
    const hit: Hit = {
      sig: u.searchParams.get('sig') ?? '',
      node: u.pathname.split('/')[2] ?? '',
      delivery: u.searchParams.get('n') ?? '',
      start: performance.now(),
      end: Number.POSITIVE_INFINITY,
    }
    hits.push(hit)
    seen.add(hit.sig)
    res.on('close', () => {
      hit.end = performance.now()
    })
    req.resume()
    setTimeout(() => {
      if (!res.destroyed) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
    }, delayMs)
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    /** Distinct signal ids received (live, not a copy). */
    signals(): ReadonlySet<string> {
      return seen
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

/** Pairs of requests for the same signal id whose open intervals overlap (sent concurrently). */
export function overlaps(hits: Hit[]): Array<[Hit, Hit]> {
  const bySig = new Map<string, Hit[]>()
  for (const h of hits) {
    const list = bySig.get(h.sig)
    if (list) list.push(h)
    else bySig.set(h.sig, [h])
  }
  const out: Array<[Hit, Hit]> = []
  for (const list of bySig.values()) {
    if (list.length < 2) continue
    list.sort((a, b) => a.start - b.start)
    for (let i = 1; i < list.length; i++) {
      // any earlier request still open when this one arrived
      for (let j = 0; j < i; j++) if (list[j].end > list[i].start) out.push([list[j], list[i]])
    }
  }
  return out
}

/** Requests beyond the first per signal id: the re-sends. */
export function resends(hits: Hit[]): { total: number; signals: number; byNode: Record<string, number> } {
  const seen = new Set<string>()
  const resent = new Set<string>()
  const byNode: Record<string, number> = {}
  let total = 0
  for (const h of [...hits].sort((a, b) => a.start - b.start)) {
    if (seen.has(h.sig)) {
      total++
      resent.add(h.sig)
      byNode[h.node] = (byNode[h.node] ?? 0) + 1
    } else seen.add(h.sig)
  }
  return { total, signals: resent.size, byNode }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
