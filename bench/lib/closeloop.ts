/**
 * Starting closeloop for a scenario: a fresh temp directory (SQLite file + generated YAML config), the real
 * CLI (`node src/main.ts serve`) as a child process, and cleanup of both afterwards.
 *
 * @example
 *   const cl = await startCloseloop({ destinations: {}, routes: [] })
 *   … load against cl.port with API_KEY …; await cl.stop()
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { forgetTempDir, freePort, type ServerChild, spawnServer, trackTempDir } from './children.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const API_KEY = 'bench-key-not-a-secret'
/**
 * What runs as closeloop: `src/main.ts` unless BENCH_SERVER_ENTRY names another script taking the same
 * `serve --config <file>` arguments — for what-if experiments (a store option not yet configurable, a branch
 * checked out elsewhere) without touching the harness. Results record which entry ran.
 */
export const SERVER_ENTRY = process.env.BENCH_SERVER_ENTRY || 'src/main.ts'
export const DATA_SET_ID = 'bench'

export interface CloseloopOptions {
  /** The `destinations` section of the config. */
  destinations?: Record<string, Record<string, unknown>>
  routes?: Array<{ signals: string[]; to: string[] }>
  /** The `sources` section (e.g. a twilio source). */
  sources?: Record<string, Record<string, unknown>>
  /** Other top-level sections (campaigns, calls…), merged in as given. */
  extra?: Record<string, unknown>
  /** A PostgreSQL URL: use the PostgreSQL store (the caller owns the database) instead of a SQLite file. */
  postgres?: string
  /** PostgreSQL pool size per node (closeloop's default is 10). */
  poolSize?: number
  /** Name in error messages (two nodes: 'closeloop-1', 'closeloop-2'). */
  name?: string
  /** Node flags for the child (e.g. `--cpu-prof`); see `--profile` in run.ts. */
  nodeFlags?: string[]
}

export interface Closeloop extends ServerChild {
  dir: string
}

export async function startCloseloop(opts: CloseloopOptions = {}): Promise<Closeloop> {
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-bench-'))
  trackTempDir(dir)
  const port = await freePort()
  const config = {
    server: { host: '127.0.0.1', port },
    store: opts.postgres
      ? { postgres: opts.postgres, ...(opts.poolSize ? { pool_size: opts.poolSize } : {}) }
      : { sqlite: join(dir, 'bench.db') },
    api_keys: [{ name: 'bench', key: API_KEY }],
    // logging is not what is measured; pino at info would add a JSON line per request
    log: { level: 'silent' },
    destinations: opts.destinations ?? {},
    routes: opts.routes ?? [],
    sources: opts.sources ?? {},
    ...opts.extra,
  }
  const configPath = join(dir, 'closeloop.yaml')
  writeFileSync(configPath, stringify(config))
  let child: ServerChild
  try {
    child = await spawnServer({
      name: opts.name ?? 'closeloop',
      args: [SERVER_ENTRY, 'serve', '--config', configPath],
      port,
      cwd: REPO,
      readyPath: '/healthz',
      nodeFlags: opts.nodeFlags,
    })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    forgetTempDir(dir)
    throw err
  }
  return {
    ...child,
    dir,
    async stop() {
      await child.stop()
      rmSync(dir, { recursive: true, force: true })
      forgetTempDir(dir)
    },
  }
}

/** The bare `node:http` baseline as a child process. */
export async function startBare(nodeFlags?: string[]): Promise<ServerChild> {
  const port = await freePort()
  return spawnServer({
    name: 'bare node:http',
    args: [fileURLToPath(new URL('./bare-server.ts', import.meta.url)), String(port)],
    port,
    cwd: REPO,
    readyPath: '/healthz',
    nodeFlags,
  })
}
