/**
 * The embedded default store: one SQLite file through `node:sqlite`, WAL mode, every write through the
 * group-commit writer. In the default durable mode a commit is fdatasynced (off the event loop) before the
 * request is acknowledged; `synchronous: NORMAL` survives a process crash but not a power loss.
 *
 * @example
 *   const store = openSqliteStore('./data/closeloop.db'); await store.migrate()
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import type { EcapiEvent } from '../../model/ecapi.ts'
import type { Attempt, Delivery, Signal } from '../../model/signal.ts'
import type { Subject } from '../../privacy/redact.ts'
import { likePatterns } from '../../privacy/redact.ts'
import { mentions, scrubAttempt, scrubDoc, scrubRaw } from '../../privacy/rows.ts'
import { newId } from '../ids.ts'
import { matchKeysField, storedMatchKeys } from '../match-keys.ts'
import { pendingNames } from '../migrations.ts'
import { memoryRateBuckets } from '../rate-bucket.ts'
import { signalFromStored, storedSignal } from '../signal-body.ts'
import {
  bucketSql,
  deliveryTally,
  eventTally,
  HOURS,
  idRange,
  signalTally,
  UNROUTED_SQL,
} from '../tallies.ts'
import type {
  AttemptRecord,
  AuditEntry,
  DeliveryQuery,
  DeriveContext,
  Derived,
  ForgetRequest,
  IngestItem,
  IngestRequest,
  IngestResult,
  ItemOutcome,
  JourneyRef,
  JourneyState,
  LeasedJob,
  RawInput,
  Store,
  TableCounts,
  TimeRange,
  TimerJob,
  Trace,
} from '../types.ts'
import { createCheckpointer } from './checkpointer.ts'
import { SQLITE_MIGRATIONS } from './migrations.ts'
import { createReader, type Row as ReadRow } from './reader.ts'
import { createWriter, type WriterOptions } from './writer.ts'

type Row = Record<string, string | number | null>

/** `destination IN (?,…)` with one placeholder per name (claims and nextDue filter by the node's destinations). */
const destinationIn = (names: readonly string[]) => `destination IN (${names.map(() => '?').join(',')})`

/**
 * The rows every accepted event writes: its raw input, the event (deduplicated by its unique key) and each
 * signal (ignored if its id exists). Exported for the benchmark, which times these statements alone.
 */
export const INGEST_SQL = {
  raw: 'INSERT INTO raw_inputs (id, source, kind, received_at, content_type, headers, body, status, result) VALUES (?,?,?,?,?,?,?,?,?)',
  event:
    'INSERT INTO events (id, raw_id, dedup_key, status, duplicate_of, data_set_id, event_type, occurred_at, call_id, body, created_at) VALUES (?,?,?,?,NULL,?,?,?,?,?,?) ON CONFLICT (dedup_key) DO NOTHING',
  signal:
    'INSERT OR IGNORE INTO signals (id, event_id, name, data_set_id, occurred_at, value, currency, body, created_at) VALUES (?,?,?,?,?,?,?,?,?)',
} as const

/** The parameters of `INGEST_SQL.raw`. */
export function rawValues(raw: RawInput): Array<string | number | null> {
  return [
    raw.id,
    raw.source,
    raw.kind,
    raw.receivedAt,
    raw.contentType ?? null,
    JSON.stringify(raw.headers),
    raw.body,
    raw.status ?? null,
    raw.result === undefined ? null : JSON.stringify(raw.result),
  ]
}

/** The parameters of `INGEST_SQL.event`: `item`'s event, accepted as `eventId` if its key is unseen. */
export function eventValues(
  eventId: string,
  rawId: string,
  item: IngestItem,
  body: string,
  now: number,
): Array<string | number | null> {
  const ev = item.event
  return [
    eventId,
    rawId,
    item.dedupKey ?? null,
    'accepted',
    ev.data_set_id,
    ev.event_type,
    ev.timestamp,
    ev.ext?.call?.call_id ?? null,
    body,
    now,
  ]
}

/** The parameters of `INGEST_SQL.signal`. */
export function signalValues(signal: Signal, now: number): Array<string | number | null> {
  return [
    signal.id,
    signal.eventId,
    signal.name,
    signal.dataSetId,
    signal.occurredAt,
    signal.value ?? null,
    signal.currency ?? null,
    JSON.stringify(storedSignal(signal)),
    now,
  ]
}

export interface SqliteOptions {
  /** FULL: durable at ack (default). NORMAL: survives a process crash, not a power loss; faster. */
  synchronous?: 'FULL' | 'NORMAL'
}

/**
 * The writer of a durable store at `path`: it syncs the WAL itself and checkpoints on a thread (writer.ts
 * has the measurements). Exported for the benchmark, which writes through the same writer.
 */
export function durableWriterOptions(path: string): WriterOptions {
  return {
    walPath: `${path}-wal`,
    // batches of 100 events change ~200 rows each: 200,000 rows checkpoint them every ~1,000 batches; 16,000
    // single events leave a WAL of ~230 MB
    checkpoints: { every: { operations: 16_000, rows: 200_000 }, by: createCheckpointer(path) },
  }
}

/**
 * The database file with the store's pragmas. `durable`: SQLite does not sync itself; the writer syncs the
 * WAL and checkpoints. Exported for the benchmark, which times the ingest statements on the same settings.
 */
export function openSqliteDatabase(
  path: string,
  opts: SqliteOptions = {},
): { db: DatabaseSync; durable: boolean } {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL')
  // durable mode: the writer fdatasyncs the WAL off the event loop (writer.ts), so SQLite must not sync itself
  const durable = (opts.synchronous ?? 'FULL') === 'FULL' && path !== ':memory:'
  db.exec(`PRAGMA synchronous = ${durable ? 'OFF' : (opts.synchronous ?? 'NORMAL')}`)
  // a second process (CLI replay, report) may hold the write lock briefly
  db.exec('PRAGMA busy_timeout = 5000')
  db.exec('PRAGMA foreign_keys = OFF')
  // every operation of a group commit runs in its own SAVEPOINT, whose statement journal is otherwise a temp
  // file: its writes made the three ingest inserts cost ~50 µs per event instead of ~28 (in-process, 2 vCPUs)
  db.exec('PRAGMA temp_store = MEMORY')
  // checkpoints run from the writer, with a sync of the main file, instead of inside some commit
  if (durable) db.exec('PRAGMA wal_autocheckpoint = 0')
  return { db, durable }
}

export function openSqliteStore(path: string, opts: SqliteOptions = {}): Store {
  const { db, durable } = openSqliteDatabase(path, opts)
  const writer = createWriter(db, durable ? durableWriterOptions(path) : {})
  // a file another connection can open: reads that walk whole tables run on the reader's thread (reader.ts)
  const reader = path === ':memory:' ? undefined : createReader(path)
  const readAll = (sql: string, ...params: Array<string | number | null>): Promise<ReadRow[]> =>
    reader ? reader.all(sql, params) : Promise.resolve(all(sql, ...params))
  let counting: ReturnType<Store['counts']> | undefined
  /** Calls made while a count runs share its answer (each dashboard polls every 5 s). */
  function counts(): ReturnType<Store['counts']> {
    counting ??= (async () => {
      const deliveries: Record<string, number> = {}
      for (const r of await readAll('SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status'))
        deliveries[String(r.status)] = Number(r.n)
      const [t] = await readAll(
        'SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM signals) AS signals',
      )
      return { deliveries, events: Number(t?.events ?? 0), signals: Number(t?.signals ?? 0) }
    })().finally(() => {
      counting = undefined
    })
    return counting
  }

  /** The campaign of a call's signal or event body, in SQL. */
  const CAMPAIGN = (col: string, path: string) => `json_extract(${col}, '$.${path}ext.call.campaign')`

  const deliveryTallies = async (range: TimeRange, buckets = HOURS) =>
    (
      await readAll(
        `SELECT ${bucketSql('d.created_at', buckets)} AS hour, ${CAMPAIGN('s.body', 'event.')} AS campaign,
           d.destination, s.name AS signal, s.currency, d.status, COUNT(*) AS deliveries,
           SUM(d.status = 'delivered' AND d.match_keys IS NOT NULL) AS reported,
           SUM(d.status = 'delivered' AND d.match_keys <> '') AS matched, TOTAL(s.value) AS value
         FROM deliveries d JOIN signals s ON s.id = d.signal_id
         WHERE d.id >= ? AND d.id < ?
         GROUP BY 1, 2, 3, 4, 5, 6`,
        ...idRange('dlv', range),
      )
    ).map(deliveryTally)

  async function intakeTallies(range: TimeRange, buckets = HOURS) {
    const events = await readAll(
      `SELECT ${bucketSql('e.created_at', buckets)} AS hour, COALESCE(r.source, 'unknown') AS source,
         ${CAMPAIGN('e.body', '')} AS campaign, e.status, COUNT(*) AS events
       FROM events e LEFT JOIN raw_inputs r ON r.id = e.raw_id
       WHERE e.id >= ? AND e.id < ?
       GROUP BY 1, 2, 3, 4`,
      ...idRange('evt', range),
    )
    const signals = await readAll(
      `SELECT ${bucketSql('s.created_at', buckets)} AS hour, ${CAMPAIGN('s.body', 'event.')} AS campaign,
         s.name AS signal, s.currency, COUNT(*) AS signals, TOTAL(s.value) AS value,
         SUM(${UNROUTED_SQL}) AS unrouted, TOTAL(CASE WHEN ${UNROUTED_SQL} THEN s.value END) AS unrouted_value
       FROM signals s WHERE s.created_at >= ? AND s.created_at < ?
       GROUP BY 1, 2, 3, 4`,
      range.fromMs,
      range.toMs,
    )
    return { events: events.map(eventTally), signals: signals.map(signalTally) }
  }

  const cache = new Map<string, StatementSync>()
  const stmt = (sql: string) => {
    let s = cache.get(sql)
    if (!s) {
      s = db.prepare(sql)
      cache.set(sql, s)
    }
    return s
  }
  const all = (sql: string, ...params: Array<string | number | null>) => stmt(sql).all(...params) as Row[]
  const get = (sql: string, ...params: Array<string | number | null>) =>
    stmt(sql).get(...params) as Row | undefined
  const run = (sql: string, ...params: Array<string | number | null>) => stmt(sql).run(...params)

  /** Versions recorded in `schema_migrations`; none in a file without it (nothing is created here). */
  function applied(): Set<number> {
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get())
      return new Set()
    return new Set(
      (db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map((r) => Number(r.version)),
    )
  }

  function migrate(): Promise<void> {
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)',
    )
    const done = applied()
    for (const m of SQLITE_MIGRATIONS) {
      if (done.has(m.version)) continue
      db.exec('BEGIN IMMEDIATE')
      try {
        db.exec(m.sql)
        db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, Date.now())
        db.exec('COMMIT')
      } catch (err) {
        db.exec('ROLLBACK')
        throw err
      }
    }
    return Promise.resolve()
  }

  function insertRaw(raw: RawInput) {
    run(INGEST_SQL.raw, ...rawValues(raw))
  }

  function loadJourney(ref: JourneyRef | undefined): JourneyState | undefined {
    if (!ref) return undefined
    return findJourney(ref) ?? (ref.legacy ? findJourney(ref.legacy) : undefined)
  }

  function findJourney(ref: { key?: string; aliases?: string[] }): JourneyState | undefined {
    let key = ref.key
    let row = key ? get('SELECT key, state FROM journeys WHERE key = ?', key) : undefined
    if (!row) {
      for (const alias of ref.aliases ?? []) {
        const a = get('SELECT journey_key FROM journey_aliases WHERE alias = ?', alias)
        if (a) {
          key = String(a.journey_key)
          row = get('SELECT key, state FROM journeys WHERE key = ?', key)
          if (row) break
        }
      }
    }
    return row ? { key: String(row.key), state: JSON.parse(String(row.state)) } : undefined
  }

  function loadFacts(keys: string[] | undefined, now: number): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const k of keys ?? []) {
      const r = get('SELECT value FROM facts WHERE key = ? AND expires_at > ?', k, now)
      if (r) out[k] = JSON.parse(String(r.value))
    }
    return out
  }

  function writeFacts(facts: Record<string, { value: unknown; ttlMs: number } | null>, now: number) {
    for (const [k, v] of Object.entries(facts)) {
      if (v === null) run('DELETE FROM facts WHERE key = ?', k)
      else
        run(
          'INSERT OR REPLACE INTO facts (key, value, expires_at) VALUES (?,?,?)',
          k,
          JSON.stringify(v.value),
          now + v.ttlMs,
        )
    }
  }

  /** Writes what `derive` decided; returns leased jobs and destinations with new pending work. */
  function applyDerived(
    d: Derived,
    now: number,
    lease: IngestRequest['lease'],
    leased: LeasedJob[],
    pending: Set<string>,
  ): Array<{ id: string; name: string }> {
    if (d.journey) {
      run(
        'INSERT INTO journeys (key, state, updated_at) VALUES (?,?,?) ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
        d.journey.key,
        JSON.stringify(d.journey.state),
        now,
      )
      for (const alias of d.journey.aliases ?? [])
        run('INSERT OR REPLACE INTO journey_aliases (alias, journey_key) VALUES (?, ?)', alias, d.journey.key)
    }
    writeFacts(d.facts ?? {}, now)
    for (const key of d.cancelTimers ?? []) run('DELETE FROM timers WHERE key = ?', key)
    for (const t of d.timers ?? [])
      run(
        `INSERT INTO timers (id, key, kind, due_at, payload) VALUES (?,?,?,?,?)
         ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, payload = excluded.payload,
           lease_token = NULL, lease_until = NULL`,
        newId('tmr', now),
        t.key,
        t.kind,
        t.dueAt,
        JSON.stringify(t.payload),
      )
    const created: Array<{ id: string; name: string }> = []
    for (const { signal, destinations } of d.signals) {
      const ins = run(INGEST_SQL.signal, ...signalValues(signal, now))
      // the same signal derived again (a repeated callback in another dedup bucket) sends nothing new
      if (Number(ins.changes) === 0) continue
      created.push({ id: signal.id, name: signal.name })
      for (const destination of destinations) {
        const take = lease?.destinations.has(destination)
        const delivery: Delivery = {
          id: newId('dlv', now),
          signalId: signal.id,
          destination,
          status: take ? 'in_flight' : 'pending',
          attempts: 0,
          dueAt: now,
          idempotencyKey: signal.id,
          createdAt: now,
          updatedAt: now,
        }
        run(
          'INSERT INTO deliveries (id, signal_id, destination, status, attempts, due_at, lease_token, lease_until, idempotency_key, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
          delivery.id,
          signal.id,
          destination,
          delivery.status,
          0,
          now,
          take ? lease!.token : null,
          take ? lease!.untilMs : null,
          delivery.idempotencyKey,
          now,
          now,
        )
        if (take) leased.push({ delivery, signal, leaseToken: lease!.token, leaseUntil: lease!.untilMs })
        else pending.add(destination)
      }
    }
    return created
  }

  /**
   * One request: events (dedup), what their `derive` decides, then the raw input with its result. Statements
   * were the largest share of ingest CPU in profiles, so a new event is one INSERT (the dedup check is the
   * unique key's ON CONFLICT, not a SELECT first) and the raw input is written once, with its result, last.
   */
  function ingestOp(req: IngestRequest, now: number): IngestResult {
    const outcomes: ItemOutcome[] = []
    const leased: LeasedJob[] = []
    const pending = new Set<string>()
    const holdbacks: string[] = []
    for (const item of req.items) {
      const eventId = newId('evt', now)
      const ev = item.event
      const callId = ev.ext?.call?.call_id ?? null
      const body = JSON.stringify(ev)
      const inserted = run(INGEST_SQL.event, ...eventValues(eventId, req.raw.id, item, body, now))
      if (Number(inserted.changes) === 0) {
        const existing = String(get('SELECT id FROM events WHERE dedup_key = ?', item.dedupKey ?? null)?.id)
        run(
          'INSERT INTO events (id, raw_id, dedup_key, status, duplicate_of, data_set_id, event_type, occurred_at, call_id, body, created_at) VALUES (?,?,NULL,?,?,?,?,?,?,?,?)',
          eventId,
          req.raw.id,
          'duplicate',
          existing,
          ev.data_set_id,
          ev.event_type,
          ev.timestamp,
          callId,
          body,
          now,
        )
        outcomes.push({ status: 'duplicate', eventId, duplicateOf: existing, signals: [] })
        continue
      }
      const ctx: DeriveContext = {
        eventId,
        rawId: req.raw.id,
        journey: loadJourney(item.journey),
        facts: loadFacts(item.facts, now),
        now,
      }
      const derived = item.derive(ctx)
      holdbacks.push(...(derived.holdbacks ?? []))
      const signals = applyDerived(derived, now, req.lease, leased, pending)
      outcomes.push({ status: 'accepted', eventId, signals })
    }
    insertRaw(req.result ? { ...req.raw, result: req.result(outcomes) } : req.raw)
    return { outcomes, leased, pendingDestinations: [...pending], holdbacks }
  }

  const toDelivery = (r: Row): Delivery => ({
    id: String(r.id),
    signalId: String(r.signal_id),
    destination: String(r.destination),
    status: r.status as Delivery['status'],
    attempts: Number(r.attempts),
    dueAt: Number(r.due_at),
    idempotencyKey: String(r.idempotency_key),
    lastError: r.last_error === null ? undefined : String(r.last_error),
    ...matchKeysField(r.match_keys),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  })

  function claimOp(opts: Parameters<Store['claimDeliveries']>[0]): LeasedJob[] {
    const dests = opts.destinations
    if (dests.length === 0) return []
    const filter = `AND ${destinationIn(dests)}`
    // two queries, each on its own partial index, instead of an OR that scans
    const rows = [
      ...all(
        `SELECT * FROM deliveries WHERE status = 'pending' AND due_at <= ? ${filter} ORDER BY due_at LIMIT ?`,
        opts.now,
        ...dests,
        opts.limit,
      ),
      ...all(
        `SELECT * FROM deliveries WHERE status = 'in_flight' AND lease_until <= ? ${filter} ORDER BY lease_until LIMIT ?`,
        opts.now,
        ...dests,
        opts.limit,
      ),
    ].slice(0, opts.limit)
    const until = opts.now + opts.leaseMs
    return rows.map((r) => {
      run(
        "UPDATE deliveries SET status = 'in_flight', lease_token = ?, lease_until = ?, updated_at = ? WHERE id = ?",
        opts.token,
        until,
        opts.now,
        String(r.id),
      )
      const sig = get('SELECT body FROM signals WHERE id = ?', String(r.signal_id))
      const delivery = { ...toDelivery(r), status: 'in_flight' as const }
      return {
        delivery,
        signal: signalFromStored(JSON.parse(String(sig?.body))),
        leaseToken: opts.token,
        leaseUntil: until,
      }
    })
  }

  function recordOp(records: AttemptRecord[], now: number) {
    for (const rec of records) {
      const a = rec.attempt
      run(
        'INSERT INTO attempts (id, delivery_id, n, started_at, outcome, code, message, exchange) VALUES (?,?,?,?,?,?,?,?)',
        newId('att', now),
        rec.deliveryId,
        a.n,
        a.startedAt,
        a.outcome,
        a.code ?? null,
        a.message ?? null,
        a.exchange ? JSON.stringify(a.exchange) : null,
      )
      run(
        'UPDATE deliveries SET status = ?, attempts = ?, due_at = ?, last_error = ?, match_keys = COALESCE(?, match_keys), lease_token = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND lease_token = ?',
        rec.next.status,
        rec.next.attempts,
        rec.next.dueAt,
        rec.next.lastError ?? null,
        storedMatchKeys(rec.next.matchKeys),
        now,
        rec.deliveryId,
        rec.leaseToken,
      )
    }
  }

  function fireOp(opts: Parameters<Store['fireTimers']>[0]) {
    const rows = all(
      'SELECT * FROM timers WHERE due_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at LIMIT ?',
      opts.now,
      opts.now,
      opts.limit,
    )
    const leased: LeasedJob[] = []
    const pending = new Set<string>()
    for (const r of rows) {
      const timer: TimerJob = {
        id: String(r.id),
        key: String(r.key),
        kind: String(r.kind),
        dueAt: Number(r.due_at),
        payload: JSON.parse(String(r.payload)),
        leaseToken: opts.token,
      }
      run('DELETE FROM timers WHERE id = ?', timer.id)
      const key = opts.journeyKey(timer)
      const ctx: DeriveContext = {
        eventId: String(timer.payload.eventId ?? ''),
        rawId: String(timer.payload.rawId ?? ''),
        journey: loadJourney(key ? { key } : undefined),
        facts: {},
        now: opts.now,
      }
      applyDerived(opts.fire(timer, ctx), opts.now, opts.lease, leased, pending)
    }
    return { fired: rows.length, leased, pendingDestinations: [...pending] }
  }

  const parseAttempt = (r: Row): Attempt => ({
    id: String(r.id),
    deliveryId: String(r.delivery_id),
    n: Number(r.n),
    startedAt: Number(r.started_at),
    outcome: r.outcome as Attempt['outcome'],
    code: r.code === null ? undefined : String(r.code),
    message: r.message === null ? undefined : String(r.message),
    exchange: r.exchange === null ? undefined : JSON.parse(String(r.exchange)),
  })

  // ---- privacy: retention and subject deletion (src/privacy) ----

  const parse = (v: string | number | null): unknown => (v === null ? null : JSON.parse(String(v)))
  const text = (v: string | number | null) => (v === null ? null : String(v))

  /**
   * Scrubs one chunk of `table` older than `cutoff` inside one writer op, stopping early at `budgetMs`:
   * a row costs ~0.5–1 ms (parsing numbers, compiling its needles), and ingest waits for the writer.
   * Returns rows scrubbed and whether rows were left over.
   */
  function scrubChunkOp(
    table: string,
    cutoff: number,
    now: number,
    limit: number,
    budgetMs: number,
    region: string | undefined,
  ): { n: number; more: boolean } {
    const deadline = performance.now() + budgetMs
    let n = 0
    // the first row always goes, so every chunk makes progress
    const spent = () => n > 0 && performance.now() > deadline
    if (table === 'raw_inputs') {
      const rows = all(
        'SELECT id, content_type, headers, body, result FROM raw_inputs WHERE received_at < ? AND scrubbed_at IS NULL ORDER BY received_at LIMIT ?',
        cutoff,
        limit,
      )
      for (const r of rows) {
        if (spent()) break
        n++
        const events = all('SELECT body FROM events WHERE raw_id = ?', String(r.id)).map((e) => parse(e.body))
        const next = scrubRaw(
          {
            body: String(r.body),
            contentType: text(r.content_type),
            headers: parse(r.headers),
            result: parse(r.result),
          },
          events,
          undefined,
          region,
        )
        run(
          'UPDATE raw_inputs SET body = ?, headers = ?, result = ?, scrubbed_at = ? WHERE id = ?',
          next.body,
          JSON.stringify(next.headers),
          next.result === null ? null : JSON.stringify(next.result),
          now,
          String(r.id),
        )
      }
      return { n, more: n < rows.length || rows.length === limit }
    }
    if (table === 'attempts') {
      // the signal that was sent says what the attempt's URL and body may hold
      const rows = all(
        `SELECT a.id, a.exchange, a.message, a.delivery_id, d.last_error, s.body AS signal
         FROM attempts a LEFT JOIN deliveries d ON d.id = a.delivery_id LEFT JOIN signals s ON s.id = d.signal_id
         WHERE a.started_at < ? AND a.scrubbed_at IS NULL ORDER BY a.started_at LIMIT ?`,
        cutoff,
        limit,
      )
      for (const r of rows) {
        if (spent()) break
        n++
        const next = scrubAttempt(
          { exchange: parse(r.exchange), message: text(r.message), lastError: text(r.last_error) },
          parse(r.signal),
          undefined,
          region,
        )
        run(
          'UPDATE attempts SET exchange = ?, message = ?, scrubbed_at = ? WHERE id = ?',
          next.exchange === null ? null : JSON.stringify(next.exchange),
          next.message,
          now,
          String(r.id),
        )
        if (next.lastError !== text(r.last_error))
          run('UPDATE deliveries SET last_error = ? WHERE id = ?', next.lastError, String(r.delivery_id))
      }
      return { n, more: n < rows.length || rows.length === limit }
    }
    // one JSON document per row
    const spec = {
      events: {
        key: 'id',
        col: 'body',
        where: 'created_at < ? AND scrubbed_at IS NULL',
        order: 'created_at',
      },
      signals: {
        key: 'id',
        col: 'body',
        where: 'created_at < ? AND scrubbed_at IS NULL',
        order: 'created_at',
      },
      // a journey written again after its scrub (a late CRM outcome) is due again
      journeys: {
        key: 'key',
        col: 'state',
        where: 'updated_at < ? AND (scrubbed_at IS NULL OR scrubbed_at < updated_at)',
        order: 'updated_at',
      },
      facts: {
        key: 'key',
        col: 'value',
        where: 'written_at < ? AND scrubbed_at IS NULL',
        order: 'written_at',
      },
    }[table]
    if (!spec) throw new Error(`no retention for table ${table}`)
    const rows = all(
      `SELECT ${spec.key} AS k, ${spec.col} AS doc FROM ${table} WHERE ${spec.where} ORDER BY ${spec.order} LIMIT ?`,
      cutoff,
      limit,
    )
    const stamp = table === 'journeys' ? 'MAX(?, updated_at)' : '?'
    for (const r of rows) {
      if (spent()) break
      n++
      run(
        `UPDATE ${table} SET ${spec.col} = ?, scrubbed_at = ${stamp} WHERE ${spec.key} = ?`,
        JSON.stringify(scrubDoc(parse(r.doc), [], undefined, region)),
        now,
        String(r.k),
      )
    }
    return { n, more: n < rows.length || rows.length === limit }
  }

  // the hot path's p99 goal is 10 ms: a retention chunk never holds the writer much longer than that
  const SCRUB_BUDGET_MS = 10

  // raw inputs and attempts first: they are scrubbed knowing the events and signals, still unscrubbed
  const RETENTION_ORDER = ['raw_inputs', 'attempts', 'events', 'signals', 'journeys', 'facts']

  async function scrubExpired(
    cutoff: number,
    now: number,
    opts: { chunk?: number; region?: string } = {},
  ): Promise<TableCounts> {
    // rows fetched per chunk: about what the time budget lets one chunk scrub, so few are read twice
    const chunk = opts.chunk ?? 50
    const counts: TableCounts = {}
    for (const table of RETENTION_ORDER) {
      for (;;) {
        const { n, more } = await writer.run(() =>
          scrubChunkOp(table, cutoff, now, chunk, SCRUB_BUDGET_MS, opts.region),
        )
        if (n > 0) counts[table] = (counts[table] ?? 0) + n
        if (!more) break
        // let queued ingest commit between chunks
        await new Promise((r) => setImmediate(r))
      }
    }
    if (Object.keys(counts).length)
      await writer.run(() => insertAudit({ action: 'retention', counts, actor: 'retention' }, now))
    return counts
  }

  function insertAudit(e: Omit<AuditEntry, 'id' | 'at'>, now: number): string {
    const id = newId('aud', now)
    run(
      'INSERT INTO audit_log (id, at, action, subject, counts, actor) VALUES (?,?,?,?,?,?)',
      id,
      now,
      e.action,
      e.subject ?? null,
      JSON.stringify(e.counts),
      e.actor,
    )
    return id
  }

  /** Where deletion looks: every text column that can hold a person's data, by table. */
  const FORGET_TABLES: Array<{ table: string; key: string; cols: string[] }> = [
    { table: 'raw_inputs', key: 'id', cols: ['body', 'headers', 'result'] },
    { table: 'attempts', key: 'id', cols: ['exchange', 'message'] },
    { table: 'deliveries', key: 'id', cols: ['last_error'] },
    { table: 'events', key: 'id', cols: ['body'] },
    { table: 'signals', key: 'id', cols: ['body'] },
    { table: 'journeys', key: 'key', cols: ['state'] },
    { table: 'facts', key: 'key', cols: ['value'] },
    { table: 'timers', key: 'id', cols: ['payload'] },
  ]

  /** Re-reads one row inside the write transaction and scrubs it if it mentions the subject. */
  function forgetRowOp(table: string, key: string, subject: Subject, now: number): boolean {
    if (table === 'raw_inputs') {
      const r = get('SELECT id, content_type, headers, body, result FROM raw_inputs WHERE id = ?', key)
      if (!r || !mentions(subject, [text(r.body), text(r.headers), text(r.result)])) return false
      const events = all('SELECT body FROM events WHERE raw_id = ?', key).map((e) => parse(e.body))
      const next = scrubRaw(
        {
          body: String(r.body),
          contentType: text(r.content_type),
          headers: parse(r.headers),
          result: parse(r.result),
        },
        events,
        subject,
      )
      run(
        'UPDATE raw_inputs SET body = ?, headers = ?, result = ?, scrubbed_at = ? WHERE id = ?',
        next.body,
        JSON.stringify(next.headers),
        next.result === null ? null : JSON.stringify(next.result),
        now,
        key,
      )
      return true
    }
    if (table === 'attempts') {
      const r = get(
        `SELECT a.exchange, a.message, s.body AS signal FROM attempts a LEFT JOIN deliveries d ON d.id = a.delivery_id
         LEFT JOIN signals s ON s.id = d.signal_id WHERE a.id = ?`,
        key,
      )
      if (!r || !mentions(subject, [text(r.exchange), text(r.message)])) return false
      const next = scrubAttempt(
        { exchange: parse(r.exchange), message: text(r.message), lastError: null },
        parse(r.signal),
        subject,
      )
      run(
        'UPDATE attempts SET exchange = ?, message = ?, scrubbed_at = ? WHERE id = ?',
        next.exchange === null ? null : JSON.stringify(next.exchange),
        next.message,
        now,
        key,
      )
      return true
    }
    if (table === 'deliveries') {
      const r = get('SELECT last_error FROM deliveries WHERE id = ?', key)
      if (!r || !mentions(subject, [text(r.last_error)])) return false
      const next = scrubDoc(String(r.last_error), [], subject)
      run('UPDATE deliveries SET last_error = ? WHERE id = ?', typeof next === 'string' ? next : null, key)
      return true
    }
    const spec = FORGET_TABLES.find((t) => t.table === table)!
    const col = spec.cols[0]
    const r = get(`SELECT ${col} AS doc FROM ${table} WHERE ${spec.key} = ?`, key)
    if (!r || !mentions(subject, [text(r.doc)])) return false
    const doc = JSON.stringify(scrubDoc(parse(r.doc), [], subject))
    // journeys/facts are marked scrubbed too (retention would find nothing left); timers have no mark
    const mark =
      table === 'timers' ? '' : `, scrubbed_at = ${table === 'journeys' ? 'MAX(?, updated_at)' : '?'}`
    if (mark) run(`UPDATE ${table} SET ${col} = ?${mark} WHERE ${spec.key} = ?`, doc, now, key)
    else run(`UPDATE ${table} SET ${col} = ? WHERE ${spec.key} = ?`, doc, key)
    return true
  }

  async function forgetSubject(req: ForgetRequest, now: number) {
    const subject: Subject = {
      emails: req.needles.emails,
      phones: req.needles.phones,
      hashes: req.hashes,
      region: req.region,
    }
    const patterns = likePatterns(subject)
    const deleted: TableCounts = {}
    for (const t of FORGET_TABLES) {
      // a substring search no index can serve: a full read of the table, outside any write transaction and
      // off the event loop; each row found is read again, and checked, inside the write that scrubs it
      const where = t.cols.flatMap((c) => patterns.map(() => `${c} LIKE ? ESCAPE '\\'`)).join(' OR ')
      const keys = (
        await readAll(
          `SELECT ${t.key} AS k FROM ${t.table} WHERE ${where}`,
          ...t.cols.flatMap(() => patterns),
        )
      ).map((r) => String(r.k))
      for (let i = 0; i < keys.length; i += 200) {
        const part = keys.slice(i, i + 200)
        const n = await writer.run(() => part.filter((k) => forgetRowOp(t.table, k, subject, now)).length)
        if (n) deleted[t.table] = (deleted[t.table] ?? 0) + n
      }
    }
    // lookup keys hold the subject's identityKey: the alias and the facts themselves go. Their keys are
    // found by the same kind of search (every key of a table that grows with visitors), then deleted by key
    const hashPatterns = req.hashes.map((h) => `%${h.toLowerCase()}%`)
    const lookups: Array<{ table: string; col: string; keys: string[] }> = []
    for (const [table, col] of [
      ['journey_aliases', 'alias'],
      ['facts', 'key'],
    ]) {
      const where = hashPatterns.map(() => `${col} LIKE ?`).join(' OR ')
      const keys = where
        ? await readAll(`SELECT ${col} AS k FROM ${table} WHERE ${where}`, ...hashPatterns)
        : []
      lookups.push({ table, col, keys: keys.map((r) => String(r.k)) })
    }
    const auditId = await writer.run(() => {
      for (const { table, col, keys } of lookups) {
        let n = 0
        for (const k of keys) n += Number(run(`DELETE FROM ${table} WHERE ${col} = ?`, k).changes)
        if (n) deleted[table] = (deleted[table] ?? 0) + n
      }
      return insertAudit({ action: 'forget', subject: req.subject, counts: deleted, actor: req.actor }, now)
    })
    return { deleted, auditId }
  }

  async function listAudit(q: { limit: number; before?: string }): Promise<AuditEntry[]> {
    const rows = q.before
      ? all('SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?', q.before, q.limit)
      : all('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?', q.limit)
    return rows.map((r) => ({
      id: String(r.id),
      at: Number(r.at),
      action: r.action as AuditEntry['action'],
      ...(r.subject === null ? {} : { subject: String(r.subject) }),
      counts: JSON.parse(String(r.counts)),
      actor: String(r.actor),
    }))
  }

  const store: Store = {
    kind: 'sqlite',
    migrate,
    pendingMigrations: async () => pendingNames(SQLITE_MIGRATIONS, applied()),
    ingest: (req, now) => writer.run(() => ingestOp(req, now)),
    recordRaw: (raw) => writer.run(() => insertRaw(raw)),
    claimDeliveries: (opts) => writer.run(() => claimOp(opts)),
    recordAttempts: (records, now) => writer.run(() => recordOp(records, now)),
    renewLeases: (leases, untilMs, now) =>
      writer.run(() =>
        leases
          .filter(
            (l) =>
              Number(
                run(
                  "UPDATE deliveries SET lease_until = ?, updated_at = ? WHERE id = ? AND lease_token = ? AND status = 'in_flight'",
                  untilMs,
                  now,
                  l.deliveryId,
                  l.token,
                ).changes,
              ) === 1,
          )
          .map((l) => l.deliveryId),
      ),
    // one process owns a SQLite file: its buckets live in memory
    takeRateTokens: memoryRateBuckets(Date.now),
    releaseLeases: (leases, now) =>
      writer.run(() => {
        for (const l of leases)
          run(
            "UPDATE deliveries SET status = 'pending', lease_token = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND lease_token = ?",
            now,
            l.deliveryId,
            l.token,
          )
      }),
    fireTimers: (opts) => writer.run(() => fireOp(opts)),
    updateFacts: (keys, update, now) =>
      writer.run(() => {
        const { writes, result } = update(loadFacts(keys, now))
        writeFacts(writes, now)
        return result
      }),
    async nextDue(destinations) {
      const among = destinationIn(destinations)
      const d = get(
        `SELECT MIN(due_at) AS t FROM deliveries WHERE status = 'pending' AND ${among}`,
        ...destinations,
      )
      const l = get(
        `SELECT MIN(lease_until) AS t FROM deliveries WHERE status = 'in_flight' AND ${among}`,
        ...destinations,
      )
      const t = get('SELECT MIN(due_at) AS t FROM timers')
      const times = [d?.t, l?.t, t?.t].filter((x): x is number => typeof x === 'number')
      return times.length ? Math.min(...times) : undefined
    },
    async trace(eventId) {
      const e = get('SELECT * FROM events WHERE id = ?', eventId)
      if (!e) return undefined
      const raw = get('SELECT * FROM raw_inputs WHERE id = ?', String(e.raw_id))
      const sourceEvent = e.duplicate_of ? String(e.duplicate_of) : eventId
      const signals = all(
        'SELECT body FROM signals WHERE event_id = ? ORDER BY created_at, id',
        sourceEvent,
      ).map((r) => signalFromStored(JSON.parse(String(r.body))))
      const deliveries: Trace['deliveries'] = []
      for (const s of signals)
        for (const d of all('SELECT * FROM deliveries WHERE signal_id = ? ORDER BY id', s.id))
          deliveries.push({
            ...toDelivery(d),
            attemptLog: all('SELECT * FROM attempts WHERE delivery_id = ? ORDER BY n, id', String(d.id)).map(
              parseAttempt,
            ),
          })
      return {
        event: {
          id: eventId,
          status: String(e.status),
          dedupKey: e.dedup_key === null ? undefined : String(e.dedup_key),
          duplicateOf: e.duplicate_of === null ? undefined : String(e.duplicate_of),
          createdAt: Number(e.created_at),
          event: JSON.parse(String(e.body)) as EcapiEvent,
        },
        raw: raw ? parseRaw(raw) : undefined,
        signals,
        deliveries,
      }
    },
    async listDeliveries(q: DeliveryQuery) {
      const where: string[] = []
      const params: Array<string | number> = []
      if (q.status) where.push('status = ?') && params.push(q.status)
      if (q.destination) where.push('destination = ?') && params.push(q.destination)
      if (q.after) where.push('id > ?') && params.push(q.after)
      const sql = `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`
      // a filter the id order serves badly (a rare destination among millions of rows) reads until it has
      // `limit` rows, however many that takes: on the reader's thread
      return (await readAll(sql, ...params, q.limit)).map((r) => toDelivery(r as Row))
    },
    replay: (id, now) =>
      writer.run(() => {
        const r = get('SELECT * FROM deliveries WHERE id = ?', id)
        if (!r) return undefined
        if (r.status === 'in_flight' || r.status === 'pending') return toDelivery(r)
        run(
          "UPDATE deliveries SET status = 'pending', due_at = ?, lease_token = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
          now,
          now,
          id,
        )
        return { ...toDelivery(r), status: 'pending' as const, dueAt: now, updatedAt: now }
      }),
    async getDestinationState(name) {
      const r = get('SELECT state FROM destination_state WHERE name = ?', name)
      return r ? JSON.parse(String(r.state)) : undefined
    },
    setDestinationState: (name, state, now) =>
      writer.run(() => {
        run(
          'INSERT INTO destination_state (name, state, updated_at) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
          name,
          JSON.stringify(state),
          now,
        )
      }),
    takeProbe: (name, openedAt, untilMs, now) =>
      writer.run(() => {
        const r = get('SELECT state FROM destination_state WHERE name = ?', name)
        if (!r) return true
        const state = JSON.parse(String(r.state))
        if (!probeFree(state, openedAt, now)) return false
        run(
          'UPDATE destination_state SET state = ?, updated_at = ? WHERE name = ?',
          JSON.stringify({ ...state, probeUntil: untilMs }),
          now,
          name,
        )
        return true
      }),
    counts,
    deliveryTallies,
    intakeTallies,
    async ping() {
      get('SELECT 1 AS ok')
    },
    writes() {
      const { transactions, operations, checkpoints } = writer.stats()
      // not durable: SQLite checkpoints inside its own commits, and the writer does not see them
      return { transactions, operations, checkpoints: durable ? checkpoints : undefined }
    },
    async close() {
      await reader?.close()
      await writer.close()
      // closing the last connection checkpoints and deletes the WAL: the main file must be synced first
      if (durable) db.exec('PRAGMA synchronous = FULL')
      db.close()
    },
    scrubExpired,
    forgetSubject,
    listAudit,
  }
  return store
}

/** The stored breaker is the one we opened (or an older opening), and no node holds its probe. */
function probeFree(
  state: { state?: string; openedAt?: number; probeUntil?: number },
  openedAt: number,
  now: number,
) {
  return state.state === 'open' && (state.openedAt ?? 0) <= openedAt && (state.probeUntil ?? 0) <= now
}

function parseRaw(r: Row): RawInput {
  return {
    id: String(r.id),
    source: String(r.source),
    kind: String(r.kind),
    receivedAt: Number(r.received_at),
    contentType: r.content_type === null ? undefined : String(r.content_type),
    headers: JSON.parse(String(r.headers)),
    body: String(r.body),
    status: r.status === null ? undefined : Number(r.status),
    result: r.result === null ? undefined : JSON.parse(String(r.result)),
  }
}
