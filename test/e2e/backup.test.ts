/**
 * `closeloop backup` beside a running server that keeps acknowledging events: the CLI (another process)
 * copies the SQLite store while ingest goes on, ingest never fails meanwhile, and the copy holds every event
 * acknowledged before the backup began, with its trace.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { openSqliteStore } from '../../src/store/sqlite/index.ts'
import { ecapiEvent, startApp } from '../helpers/app.ts'

const run = promisify(execFile)

test('closeloop backup: an online copy while the server acknowledges events', async () => {
  const app = await startApp('')
  try {
    const configPath = join(app.dir, 'cli.yaml')
    writeFileSync(configPath, `store: { sqlite: ${join(app.dir, 'closeloop.db')} }\nlog: { level: silent }\n`)
    const before: string[] = []
    for (let i = 0; i < 40; i++) {
      const r = await app.post('/v1/events', ecapiEvent())
      assert.equal(r.status, 200)
      before.push((r.body as { event_id: string }).event_id)
    }
    // ingest goes on while the CLI copies
    let ingesting = true
    const statuses: number[] = []
    const load = (async () => {
      while (ingesting) statuses.push((await app.post('/v1/events', ecapiEvent())).status)
    })()
    const target = join(app.dir, 'backup.db')
    const out = await run(process.execPath, ['src/main.ts', 'backup', target, '--config', configPath], {
      encoding: 'utf8',
    })
    ingesting = false
    await load
    assert.match(out.stdout, /closeloop\.db → .*backup\.db: [\d.]+ MiB in \d+ ms/)
    assert.ok(statuses.length > 0)
    assert.deepEqual([...new Set(statuses)], [200])

    const copy = openSqliteStore(target)
    try {
      for (const id of before) assert.equal((await copy.trace(id))?.event.id, id)
      const counts = await copy.counts()
      assert.ok(counts.events >= 40 && counts.events <= 40 + statuses.length, JSON.stringify(counts))
    } finally {
      await copy.close()
    }
    // a second backup to the same file is refused, and the first is left as it was
    await assert.rejects(
      run(process.execPath, ['src/main.ts', 'backup', target, '--config', configPath], { encoding: 'utf8' }),
      (err: { code: number; stderr: string }) =>
        err.code === 1 && /exists: a backup never overwrites/.test(err.stderr),
    )
    // two backups to one new target at once: one wins, the other is refused, and no partial file is left
    const twice = join(app.dir, 'twice.db')
    const both = await Promise.allSettled(
      [0, 1].map(() =>
        run(process.execPath, ['src/main.ts', 'backup', twice, '--config', configPath], { encoding: 'utf8' }),
      ),
    )
    assert.deepEqual(both.map((r) => r.status).sort(), ['fulfilled', 'rejected'])
    const copy2 = openSqliteStore(twice)
    assert.ok((await copy2.counts()).events >= 40)
    await copy2.close()
    assert.deepEqual(
      readdirSync(app.dir).filter((f) => f.endsWith('.partial')),
      [],
    )
    const pg = join(app.dir, 'pg.yaml')
    writeFileSync(pg, 'store: { postgres: "postgres://127.0.0.1:1/none" }\n')
    await assert.rejects(
      run(process.execPath, ['src/main.ts', 'backup', join(app.dir, 'x.db'), '--config', pg], {
        encoding: 'utf8',
      }),
      (err: { stderr: string }) => /pg_dump/.test(err.stderr),
    )
  } finally {
    await app.close()
  }
})
