/**
 * The pool's connections plan every execution with its real parameters: a statement first run on a fresh,
 * empty outbox must not keep a sequential-scan plan once the table has grown. An `asyncCommit` pool's
 * commits skip the WAL flush; any other keeps the server's setting.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { createTestDatabase } from '../../../test/helpers/postgres.ts'
import { openPostgresStore } from './index.ts'
import { MIGRATION_LOCK } from './migrations.ts'
import { createPool, longRead } from './pool.ts'

test('a statement prepared on an empty table uses the index once the table has grown', async () => {
  const db = await createTestDatabase()
  const pool = createPool(db.url, { poolSize: 1 })
  try {
    const c = await pool.connect()
    try {
      await c.query('CREATE TABLE outbox (id text PRIMARY KEY, status text NOT NULL)')
      // the shape of recording attempts: rows to update joined from a JSON parameter
      const record = {
        name: 'record',
        text: `UPDATE outbox o SET status = r.status
               FROM jsonb_to_recordset($1::jsonb) AS r(id text, status text) WHERE o.id = r.id`,
      }
      // more than the five runs after which PostgreSQL may switch a prepared statement to a generic plan
      for (let i = 0; i < 8; i++)
        await c.query({ ...record, values: [JSON.stringify([{ id: `x${i}`, status: 'done' }])] })
      await c.query("INSERT INTO outbox SELECT 'd' || g, 'pending' FROM generate_series(1, 100000) g")
      const plan = (
        await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE record('[{"id":"d1","status":"done"}]')`)
      ).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n')
      assert.match(plan, /Index Scan|Bitmap Index Scan/, plan)
      assert.doesNotMatch(plan, /Seq Scan/, plan)
    } finally {
      c.release()
    }
  } finally {
    await pool.end()
    await db.drop()
  }
})

test('asyncCommit turns synchronous_commit off on its connections; other pools keep the server setting', async () => {
  const db = await createTestDatabase()
  const setting = async (pool: ReturnType<typeof createPool>) =>
    (
      await pool.query<{ setting: string; source: string }>(
        "SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'",
      )
    ).rows[0]
  const plain = createPool(db.url, { poolSize: 1 })
  const quick = createPool(db.url, { poolSize: 1, asyncCommit: true, applicationName: 'closeloop attempts' })
  try {
    assert.deepEqual(await setting(quick), { setting: 'off', source: 'client' })
    // not set by the client: the server's configuration (which may ask for more, e.g. remote_apply) holds
    assert.notEqual((await setting(plain)).source, 'client')
    const [app] = (await quick.query<{ application_name: string }>('SHOW application_name')).rows
    assert.equal(app.application_name, 'closeloop attempts')
  } finally {
    await plain.end()
    await quick.end()
    await db.drop()
  }
})

test('a long read cleans its parameters as every statement does: a NUL becomes U+FFFD, not a failed read', async () => {
  const db = await createTestDatabase()
  const pool = createPool(db.url, { poolSize: 1 })
  try {
    const rows = await longRead<{ v: string; a: string[] }>(pool, 'SELECT $1::text AS v, $2::text[] AS a', [
      'a\u0000b',
      ['%x\u0000%'],
    ])
    assert.deepEqual(rows, [{ v: 'a\uFFFDb', a: ['%x\uFFFD%'] }])
  } finally {
    await pool.end()
    await db.drop()
  }
})

test("migrations wait for another node's and are not cut by the pool's statement timeout", async () => {
  const db = await createTestDatabase()
  // a pool timeout of 300 ms, and another node holding the migration lock for a second
  const store = await openPostgresStore(db.url, { statementTimeoutMs: 300 })
  const other = new pg.Client({ connectionString: db.url })
  await other.connect()
  try {
    await other.query('SELECT pg_advisory_lock($1, $2)', [...MIGRATION_LOCK])
    const t0 = Date.now()
    const migrated = store.migrate()
    setTimeout(() => void other.query('SELECT pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK]), 1_000)
    await migrated
    assert.ok(Date.now() - t0 >= 900, 'it waited for the lock')
    assert.deepEqual(await store.pendingMigrations(), [])
  } finally {
    await other.end()
    await store.close()
    await db.drop()
  }
})
