/**
 * The floor under (a): the CPU that the rows of one single-event ingest cost in SQLite, with nothing else
 * around them. The store's own pieces run in the bench process: its pragmas and migrations, its group-commit
 * writer (one fdatasync of the WAL per commit, its checkpoint interval and checkpointer thread) and its
 * three ingest statements. There is no HTTP, no validation, no pipeline and no `ingestOp` bookkeeping: every
 * row (raw input, event, signal) is built and stringified before the clock starts. The signal is the one the
 * real pipeline derives for the benchmark's event (consent explanations included).
 *
 * Whatever closeloop does per request costs at least this much, so it bounds what tuning the rest can reach.
 *
 * @example
 *   const floor = await measureStoreFloor({ events: 40_000, concurrency: 16 })  // → { cpuUsPerEvent: 52, … }
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EcapiEvent } from '../../src/model/ecapi.ts'
import { ecapiItem } from '../../src/pipeline/ecapi.ts'
import { newId } from '../../src/store/ids.ts'
import {
  durableWriterOptions,
  eventValues,
  INGEST_SQL,
  openSqliteDatabase,
  rawValues,
  signalValues,
} from '../../src/store/sqlite/index.ts'
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.ts'
import { createWriter } from '../../src/store/sqlite/writer.ts'
import { forgetTempDir, trackTempDir } from './children.ts'
import { eventFor, nextId } from './events.ts'

export interface StoreFloor {
  events: number
  /** User + system CPU of the bench process (all its threads, so the WAL syncs too), per event. */
  cpuUsPerEvent: number
  userUsPerEvent: number
  systemUsPerEvent: number
  eventsPerSecond: number
  /** Operations per commit, as the writer grouped them. */
  operationsPerCommit: number
}

type Param = string | number | null
interface Rows {
  event: Param[]
  signal: Param[]
  raw: Param[]
}

/** What closeloop stores as the request headers of the benchmark's requests (credentials redacted). */
const HEADERS = {
  host: '127.0.0.1:8787',
  connection: 'keep-alive',
  authorization: '[redacted]',
  'content-type': 'application/json',
  'content-length': '141',
}

const PIPELINE = { routes: [], activeDestinations: new Set<string>(), consentDefault: 'granted' as const }

function rowsFor(now: number): Rows {
  const event = eventFor(nextId()) as EcapiEvent
  const body = JSON.stringify(event)
  const item = ecapiItem(event, PIPELINE)
  const eventId = newId('evt', now)
  const rawId = newId('raw', now)
  const { signal } = item.derive({ eventId, rawId, now, facts: {} }).signals[0]
  const result = {
    accepted: 1,
    duplicate: 0,
    rejected: 0,
    results: [{ index: 0, status: 'accepted', event_id: eventId, signals: [signal.id] }],
  }
  const raw = {
    id: rawId,
    source: 'ecapi',
    kind: 'events',
    receivedAt: now,
    contentType: 'application/json',
    headers: HEADERS,
    body,
    status: 200,
    result,
  }
  return {
    event: eventValues(eventId, rawId, item, body, now),
    signal: signalValues(signal, now),
    raw: rawValues(raw),
  }
}

export async function measureStoreFloor(opts: { events: number; concurrency: number }): Promise<StoreFloor> {
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-floor-'))
  trackTempDir(dir)
  const path = join(dir, 'floor.db')
  const { db } = openSqliteDatabase(path)
  try {
    for (const m of SQLITE_MIGRATIONS) db.exec(m.sql)
    const writer = createWriter(db, durableWriterOptions(path))
    const insert = {
      event: db.prepare(INGEST_SQL.event),
      signal: db.prepare(INGEST_SQL.signal),
      raw: db.prepare(INGEST_SQL.raw),
    }
    const write = (r: Rows) => () => {
      insert.event.run(...r.event)
      insert.signal.run(...r.signal)
      insert.raw.run(...r.raw)
    }
    // a warm-up fills the page cache and the statement caches, as the server's warm-up does
    const warm = Array.from({ length: 2_000 }, () => rowsFor(Date.now()))
    await Promise.all(warm.map((r) => writer.run(write(r))))
    const rows = Array.from({ length: opts.events }, () => rowsFor(Date.now()))
    const before = writer.stats()
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    let next = 0
    // `concurrency` requests in flight, each waiting for its durable commit, as the server's connections do
    const client = async () => {
      while (next < rows.length) await writer.run(write(rows[next++]))
    }
    await Promise.all(Array.from({ length: opts.concurrency }, client))
    const cpu = process.cpuUsage(cpu0)
    const seconds = (performance.now() - t0) / 1000
    const after = writer.stats()
    await writer.close()
    const n = opts.events
    return {
      events: n,
      cpuUsPerEvent: (cpu.user + cpu.system) / n,
      userUsPerEvent: cpu.user / n,
      systemUsPerEvent: cpu.system / n,
      eventsPerSecond: n / seconds,
      operationsPerCommit:
        (after.operations - before.operations) / (after.transactions - before.transactions),
    }
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
    forgetTempDir(dir)
  }
}
