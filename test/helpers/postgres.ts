/**
 * A throwaway PostgreSQL database per test file on the local server: created with a random name, dropped
 * (with FORCE, closing leftover connections) afterwards. When the server is not reachable this throws:
 * CI guarantees a server, so a PostgreSQL test must fail loudly, never skip.
 *
 * @example
 *   const db = await createTestDatabase(); try { …db.url… } finally { await db.drop() }
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** Admin connection; override with CLOSELOOP_TEST_PG (trust auth on localhost by default). */
export const ADMIN_URL = process.env.CLOSELOOP_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export interface TestDatabase {
  name: string
  url: string
  drop(): Promise<void>
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 })
  try {
    await c.connect()
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${ADMIN_URL} (set CLOSELOOP_TEST_PG): ${(err as Error).message}`,
      { cause: err },
    )
  }
  try {
    return await fn(c)
  } finally {
    await c.end().catch(() => undefined)
  }
}

export async function createTestDatabase(prefix = 'closeloop_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  await admin((c) => c.query(`CREATE DATABASE ${name}`))
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  }
}

/** Kills every backend connected to `database` (a server-side fault, for recovery tests). */
export function terminateBackends(database: string): Promise<number> {
  return admin(async (c) => {
    const r = await c.query<{ n: string }>(
      'SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [database],
    )
    return Number(r.rows[0].n)
  })
}
