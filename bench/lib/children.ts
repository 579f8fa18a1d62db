/**
 * Child processes of the benchmark: every server under test runs in its own process so the load generator
 * never shares an event loop with it. All children are tracked here and killed on normal exit, on an error
 * and on SIGINT/SIGTERM; `parent-watch.ts` (preloaded into each child) covers the bench itself dying hard.
 *
 * @example
 *   const child = await spawnServer({ name: 'bare', args: ['bench/lib/bare-server.ts'], port })
 *   …; await child.stop()
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

const PARENT_WATCH = fileURLToPath(new URL('./parent-watch.ts', import.meta.url))
/** A server that is not answering /healthz after this long is broken, not slow (closeloop starts in < 1 s). */
const READY_TIMEOUT_MS = 15_000
/** Graceful shutdown gets this long (closeloop finishes in-flight deliveries) before SIGKILL. */
const STOP_GRACE_MS = 5_000

const live = new Set<ChildProcess>()
/** Temp directories (SQLite files) to remove if the run is interrupted before a scenario cleans up. */
const tempDirs = new Set<string>()

/** Remove `dir` at exit unless `forgetTempDir` was called first (the scenario removed it itself). */
export function trackTempDir(dir: string) {
  tempDirs.add(dir)
}

export function forgetTempDir(dir: string) {
  tempDirs.delete(dir)
}

export interface ServerChild {
  name: string
  pid: number
  port: number
  /** CPU seconds (user + system) this child has used so far; undefined where /proc is unavailable. */
  cpuSeconds(): number | undefined
  /** SIGTERM, then SIGKILL after a grace period. Idempotent. */
  stop(): Promise<void>
}

export interface SpawnOptions {
  name: string
  /** Arguments after `node` (script and its arguments). */
  args: string[]
  port: number
  /** Extra Node flags for this child, e.g. `--cpu-prof`. */
  nodeFlags?: string[]
  /** Path polled until it answers 200. */
  readyPath?: string
  cwd?: string
}

/** A free loopback port: bind to 0, read it, release it. Racy in theory, fine on a bench machine. */
export async function freePort(): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const addr = srv.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

export async function spawnServer(opts: SpawnOptions): Promise<ServerChild> {
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), '--import', PARENT_WATCH, ...opts.args], {
    cwd: opts.cwd,
    // stdin is the lifeline parent-watch listens on; stderr is kept for the error message if startup fails
    stdio: ['pipe', 'ignore', 'pipe'],
  })
  live.add(child)
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 8_000) stderr += chunk
  })
  const exited = once(child, 'exit').then(() => {
    live.delete(child)
  })
  const pid = child.pid
  if (pid === undefined) throw new Error(`${opts.name}: could not spawn ${process.execPath}`)

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
      await exited
      clearTimeout(timer)
    })()
    return stopping
  }

  try {
    await waitReady(opts, child, () => stderr)
  } catch (err) {
    await stop()
    throw err
  }
  return { name: opts.name, pid, port: opts.port, cpuSeconds: () => procCpuSeconds(pid), stop }
}

async function waitReady(opts: SpawnOptions, child: ChildProcess, stderr: () => string) {
  const deadline = Date.now() + READY_TIMEOUT_MS
  const url = `http://127.0.0.1:${opts.port}${opts.readyPath ?? '/'}`
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `${opts.name} exited during startup (${child.exitCode ?? child.signalCode}): ${stderr()}`,
      )
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      await res.arrayBuffer()
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${opts.name} not ready on ${url} after ${READY_TIMEOUT_MS} ms: ${stderr()}`)
}

/** utime + stime from /proc/<pid>/stat, in seconds (Linux); undefined elsewhere. */
function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    // USER_HZ is 100 on every mainstream Linux build
    return ticks / 100
  } catch {
    return undefined
  }
}

/** Synchronous cleanups of other resources (throwaway databases) run after the children are killed. */
const exitHooks: Array<() => void> = []

export function addExitHook(fn: () => void) {
  exitHooks.push(fn)
}

/** Kill every child still running, synchronously (usable from an 'exit' handler). */
export function killAll(signal: NodeJS.Signals = 'SIGKILL') {
  for (const child of live) child.kill(signal)
  for (const hook of exitHooks) hook()
  // a killed SQLite writer leaves nothing worth keeping; removing the file under it is safe on POSIX
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

let installed = false
/** Make sure no child outlives the bench: on exit, uncaught errors, SIGINT and SIGTERM. */
export function installCleanup() {
  if (installed) return
  installed = true
  process.on('exit', () => killAll())
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping ${live.size} child process(es)\n`)
      killAll()
      process.exit(130)
    })
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`)
    killAll()
    process.exit(1)
  })
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`bench: unhandled rejection: ${err instanceof Error ? err.stack : String(err)}\n`)
    killAll()
    process.exit(1)
  })
}
