/**
 * Migrations as a release step: with `migrate: false` a node never changes the schema at start, and refuses
 * to start on a database that `closeloop migrate` has not brought up to this build; the real CLI then
 * migrates it and the node starts.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import pg from 'pg'
import { createApp } from '../../src/app.ts'
import { readConfig } from '../../src/config/index.ts'
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.ts'
import { createTestDatabase } from '../helpers/postgres.ts'

const run = promisify(execFile)

test('migrate: false refuses a schema behind the build; `closeloop migrate` brings it up, then the node starts', async () => {
  const db = await createTestDatabase()
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-migrate-'))
  const file = join(dir, 'closeloop.yaml')
  const text = `store: { postgres: "${db.url}", migrate: false }
api_keys: [{ name: ops, key: ops-key-0123456789 }]
log: { level: silent }
`
  writeFileSync(file, text)
  const { config, errors } = readConfig(text, {})
  assert.ok(config, errors.join('\n'))
  const count = async (sql: string) => {
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    try {
      return (await c.query<{ n: number }>(sql)).rows[0].n
    } finally {
      await c.end()
    }
  }
  const tables = () => count("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")
  const nodeSessions = () =>
    count(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = '${db.name}' AND application_name LIKE 'closeloop%'`,
    )
  try {
    await assert.rejects(createApp({ config }), (err: Error) => {
      assert.match(err.message, /schema is behind this build/)
      assert.match(err.message, new RegExp(`pending migrations: 1 ${PG_MIGRATIONS[0].name}, 2 `))
      assert.match(err.message, /closeloop migrate/)
      return true
    })
    assert.equal(await tables(), 0, 'a node with migrate: false changed nothing')
    // neither does a one-off command: replay refuses the schema instead of migrating it behind the nodes
    await assert.rejects(
      run(process.execPath, ['src/main.ts', 'replay', 'dlv_x', '--config', file]),
      (err: { stderr: string }) => /lacks migrations .*run closeloop migrate first/.test(err.stderr),
    )
    assert.equal(await tables(), 0, 'replay changed nothing either')
    // the refused node closed the store it opened: no connection of it stays behind (backends exit promptly)
    for (let i = 0; i < 40 && (await nodeSessions()) > 0; i++) await new Promise((r) => setTimeout(r, 50))
    assert.equal(await nodeSessions(), 0)

    const { stdout } = await run(process.execPath, ['src/main.ts', 'migrate', '--config', file])
    assert.match(stdout, /migrated postgres store/)

    const app = await createApp({ config })
    try {
      assert.deepEqual(await app.store.pendingMigrations(), [])
      const port = await app.listen(0, '127.0.0.1')
      const res = await fetch(`http://127.0.0.1:${port}/readyz`)
      assert.equal(res.status, 200)
    } finally {
      await app.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await db.drop()
  }
})
