/**
 * Throwaway PostgreSQL databases for the PostgreSQL scenarios: one per scenario, created on the local server
 * and dropped (WITH FORCE, closing whatever is still connected) when the scenario ends — or, if the bench is
 * interrupted, by `dropLeftoverDatabases` from the exit handler.
 *
 * @example
 *   const db = await createDatabase(); try { …db.url… } finally { await db.drop() }
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { addExitHook } from './children.ts'
import { type Closeloop, type CloseloopOptions, startCloseloop } from './closeloop.ts'

/** Admin connection (trust auth on loopback, as the test suite uses); override with BENCH_PG_URL. */
export const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export interface Database {
  name: string
  url: string
  drop(): Promise<void>
}

const live = new Set<string>()
addExitHook(dropLeftoverDatabases)

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3_000 })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end().catch(() => undefined)
  }
}

/** Why the PostgreSQL scenarios cannot run here, or undefined when the server answers. */
export function postgresUnavailable(): string | undefined {
  // synchronous (Scenario.unavailable is): psql answers in a few ms when the server is up
  const r = spawnSync('psql', [ADMIN_URL, '-Atc', 'select 1'], { encoding: 'utf8', timeout: 5_000 })
  if (r.status === 0) return undefined
  return `PostgreSQL not reachable at ${ADMIN_URL} (set BENCH_PG_URL): ${(r.stderr || r.error?.message || '').trim()}`
}

export async function createDatabase(prefix = 'closeloop_bench'): Promise<Database> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`
  await admin((c) => c.query(`CREATE DATABASE ${name}`))
  live.add(name)
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    async drop() {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
      live.delete(name)
    },
  }
}

/** Synchronous, for the exit handler: drops databases a scenario did not get to drop (Ctrl-C, a crash). */
export function dropLeftoverDatabases() {
  for (const name of live)
    spawnSync('psql', [ADMIN_URL, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { timeout: 10_000 })
  live.clear()
}

/** A closeloop child on its own throwaway database; stopping it drops the database too. */
export async function startCloseloopOnPostgres(
  opts: Omit<CloseloopOptions, 'postgres'> = {},
): Promise<Closeloop> {
  const db = await createDatabase()
  const cl = await startCloseloop({ ...opts, postgres: db.url }).catch(async (err) => {
    await db.drop()
    throw err
  })
  return {
    ...cl,
    async stop() {
      await cl.stop()
      await db.drop()
    },
  }
}
