/**
 * The connection pool and the three ways to use it: `query` (one statement, its own implicit transaction),
 * `tx` (a short transaction on one pooled connection) and `param`/`json` encoding. Every path maps database
 * faults to `E_STORE_UNAVAILABLE` and throws away connections that broke, so the pool heals by itself
 * when the server comes back: new connections are opened on demand, there is no reconnect loop to babysit.
 */
import { createHash } from 'node:crypto'
import pg from 'pg'
import { classify, isConnectionError } from './errors.ts'

export type Param = string | number | boolean | null | Array<string | null>

export interface Queryable {
  query<R extends object>(sql: string, params?: Param[]): Promise<R[]>
  /**
   * In a group-commit batch: destinations to wake other nodes for, notified once with the batch's COMMIT
   * (a notification is only delivered at commit anyway) instead of one statement per request.
   */
  wake?: Set<string>
}

export interface PoolOptions {
  poolSize?: number
  statementTimeoutMs?: number
  /**
   * `synchronous_commit = off`: COMMIT answers before its WAL is flushed (PostgreSQL flushes it within
   * 3 × `wal_writer_delay`, or with the next synchronous commit). Otherwise the server's own setting holds.
   */
  asyncCommit?: boolean
  /** What the server's `pg_stat_activity` shows for these connections. */
  applicationName?: string
}

const INT8_OID = 20

/**
 * Epoch milliseconds and counts come back as `bigint`; both fit a double exactly (ms until year 287,396),
 * so they are parsed to numbers here instead of at every call site.
 */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === INT8_OID && format !== 'binary') return (v: string) => Number(v)
    return pg.types.getTypeParser(oid, format as 'text')
  },
}

export function createPool(url: string, opts: PoolOptions = {}): pg.Pool {
  const statementTimeout = opts.statementTimeoutMs ?? 5_000 // statements take ms; 5 s means the server is in trouble, and webhook senders give up at ~10 s
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10, // a few group-commit batches in flight + claims + reads; pg's default
    connectionTimeoutMillis: 2_000, // a LAN connect takes ~ms: fail the request fast instead of queueing behind a dead server
    idleTimeoutMillis: 30_000, // pg's default: idle connections are cheap to keep, slow-ish to reopen
    statement_timeout: statementTimeout,
    // client-side backstop when the network silently drops packets and the server-side timeout never arrives
    query_timeout: statementTimeout + 2_000,
    // a node stuck mid-transaction must not hold delivery and journey locks longer than this
    idle_in_transaction_session_timeout: 10_000,
    keepAlive: true, // detect a vanished server on idle connections
    types,
    application_name: opts.applicationName ?? 'closeloop',
    // Always plan with the actual parameters and table sizes. A generic plan is cached per connection after
    // five runs; planned on a fresh database's empty outbox it seq-scans `deliveries` forever after (seen in
    // the two-node benchmark: recording 20 attempts took 14.7 ms at 100,000 rows instead of 0.3 ms). Our
    // statements plan in about 0.1 ms; prepared statements still save the parse.
    options: `-c plan_cache_mode=force_custom_plan${opts.asyncCommit ? ' -c synchronous_commit=off' : ''}`,
  })
  // an idle connection whose backend died emits 'error' on the pool; the pool drops it and we reconnect later
  pool.on('error', () => undefined)
  // a checked-out connection can break between statements; its next query rejects, which is what we handle
  pool.on('connect', (client) => client.on('error', () => undefined))
  return pool
}

/** Strings go over the wire as text, which PostgreSQL cannot hold a NUL in: stored as U+FFFD instead. */
export function param(v: string): string {
  return v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v
}

/**
 * Escapes jsonb rejects, each preceded by an even number of backslashes (so it is an escape, not text): a NUL,
 * and a surrogate. `JSON.stringify` escapes a surrogate only when it is unpaired (a pair is written as the
 * character itself), and jsonb refuses an unpaired one ("Unicode low surrogate must follow a high surrogate").
 */
const JSONB_REFUSES = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g

/** A document for a jsonb column, with NULs and unpaired surrogates replaced by U+FFFD. */
export function json(v: unknown): string {
  const s = JSON.stringify(v)
  return s.includes('\\u') ? s.replace(JSONB_REFUSES, '$1\\ufffd') : s
}

function clean(params: Param[] | undefined): Param[] | undefined {
  return params?.map((p) =>
    typeof p === 'string' ? param(p) : Array.isArray(p) ? p.map((x) => (x === null ? x : param(x))) : p,
  )
}

const names = new Map<string, string>()

/**
 * Statements with parameters run as named prepared statements: each connection parses and plans a statement
 * once instead of on every call (the CTE statements here cost more to plan than to run). The set of SQL
 * texts is small and fixed, so the per-connection cache stays small.
 */
function statement(sql: string, params: Param[] | undefined): pg.QueryConfig<Param[]> | string {
  if (!params?.length) return sql
  let name = names.get(sql)
  if (!name) {
    name = `cl_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`
    names.set(sql, name)
  }
  return { name, text: sql, values: clean(params) }
}

export function wrap(client: pg.ClientBase): Queryable {
  return {
    async query<R extends object>(sql: string, params?: Param[]) {
      const res = await client.query<R>(statement(sql, params))
      return res.rows
    },
  }
}

/** One statement on any pooled connection. */
export async function query<R extends object>(pool: pg.Pool, sql: string, params?: Param[]): Promise<R[]> {
  try {
    return (await pool.query<R>(statement(sql, params))).rows
  } catch (err) {
    throw classify(err)
  }
}

/**
 * A read that may take longer than the pool's statement timeout (a subject's substring search, a report over
 * millions of rows): one statement in a read-only transaction with a timeout of its own. It blocks no writer.
 */
export async function longRead<R extends object>(
  pool: pg.Pool,
  sql: string,
  params: Param[],
  timeoutS = 600,
): Promise<R[]> {
  return withClient(pool, async (c) => {
    await c.query('BEGIN READ ONLY')
    try {
      await c.query(`SET LOCAL statement_timeout = '${Math.round(timeoutS)}s'`)
      const res = await c.query<R>({
        text: sql,
        // cleaned like every other statement's: a NUL in a search term failed the read ('invalid byte sequence')
        values: clean(params),
        query_timeout: timeoutS * 1000 + 2_000,
      } as pg.QueryConfig)
      return res.rows
    } finally {
      await c.query('COMMIT')
    }
  })
}

/** Checks out a connection, destroying it afterwards if it broke (so the pool never hands it out again). */
/**
 * A connection of its own, without the pool's statement timeouts: migrations wait for another node's
 * (the advisory lock) and may build an index over a large table. On the pool, a node starting while another
 * migrated for over 5 s failed to start, and a 6 s `CREATE INDEX` could never be applied (a review
 * reproduced both).
 */
export async function withUntimedClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 2_000,
    application_name: 'closeloop migrate',
  })
  client.on('error', () => undefined)
  try {
    await client.connect()
    return await fn(client)
  } catch (err) {
    throw classify(err)
  } finally {
    await client.end().catch(() => undefined)
  }
}

export async function withClient<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient
  try {
    client = await pool.connect()
  } catch (err) {
    throw classify(err)
  }
  try {
    const out = await fn(client)
    client.release()
    return out
  } catch (err) {
    client.release(isConnectionError(err) ? toError(err) : undefined)
    throw classify(err)
  }
}

/** A short transaction: BEGIN, fn, COMMIT; ROLLBACK on error. */
export function tx<T>(pool: pg.Pool, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => {
    await client.query('BEGIN')
    try {
      const out = await fn(wrap(client))
      await client.query('COMMIT')
      return out
    } catch (err) {
      await rollback(client)
      throw err
    }
  })
}

/** ROLLBACK; if the connection is already gone the server rolled back for us. */
export async function rollback(client: pg.ClientBase): Promise<void> {
  try {
    await client.query('ROLLBACK')
  } catch {
    // the connection broke while rolling back: the caller's release(err) destroys it
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
