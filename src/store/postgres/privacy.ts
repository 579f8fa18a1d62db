/**
 * Retention and subject deletion on PostgreSQL: the same pure redaction as SQLite (`src/privacy/rows.ts`),
 * with PostgreSQL's concurrency. Each chunk is one short transaction that takes its rows `FOR UPDATE SKIP
 * LOCKED`, so a node's retention pass never waits on ingest holding a journey, and two nodes running
 * retention at once take different rows. Deletion finds its rows with a substring search first (read only),
 * then re-reads each under lock before scrubbing it.
 */
import type pg from 'pg'
import { likePatterns, type Subject } from '../../privacy/redact.ts'
import { mentions, scrubAttempt, scrubDoc, scrubRaw } from '../../privacy/rows.ts'
import { newId } from '../ids.ts'
import type { AuditEntry, ForgetRequest, TableCounts } from '../types.ts'
import { json, longRead, type Queryable, query, tx } from './pool.ts'

type RawRow = {
  id: string
  content_type: string | null
  headers: unknown
  body: string
  result: unknown
}
type AttemptRow = {
  id: string
  exchange: unknown
  message: string | null
  delivery_id: string
  last_error: string | null
  signal: unknown
}

const str = (v: unknown) => (v === null || v === undefined ? null : json(v))

/** One JSON document per row: the column, its age, and when a scrubbed row is due again. */
const DOC_TABLES: Record<string, { key: string; col: string; due: string; order: string; stamp: string }> = {
  events: {
    key: 'id',
    col: 'body',
    due: 'created_at < $1 AND scrubbed_at IS NULL',
    order: 'created_at',
    stamp: '$2',
  },
  signals: {
    key: 'id',
    col: 'body',
    due: 'created_at < $1 AND scrubbed_at IS NULL',
    order: 'created_at',
    stamp: '$2',
  },
  // a journey written again after its scrub (a late CRM outcome) is due again
  journeys: {
    key: 'key',
    col: 'state',
    due: 'updated_at < $1 AND (scrubbed_at IS NULL OR scrubbed_at < updated_at)',
    order: 'updated_at',
    stamp: 'GREATEST($2, t.updated_at)',
  },
  facts: {
    key: 'key',
    col: 'value',
    due: 'written_at < $1 AND scrubbed_at IS NULL',
    order: 'written_at',
    stamp: '$2',
  },
}

async function scrubRawRows(
  q: Queryable,
  rows: RawRow[],
  now: number,
  subject?: Subject,
  region?: string,
): Promise<void> {
  if (!rows.length) return
  const events = await q.query<{ raw_id: string; body: unknown }>(
    'SELECT raw_id, body FROM events WHERE raw_id = ANY($1::text[])',
    [rows.map((r) => r.id)],
  )
  const next = rows.map((r) => {
    const n = scrubRaw(
      { body: r.body, contentType: r.content_type, headers: r.headers, result: r.result },
      events.filter((e) => e.raw_id === r.id).map((e) => e.body),
      subject,
      region,
    )
    return { id: r.id, body: n.body, headers: n.headers, result: n.result ?? null }
  })
  await q.query(
    `UPDATE raw_inputs t SET body = r.body, headers = r.headers, result = r.result, scrubbed_at = $2
     FROM jsonb_to_recordset($1::jsonb) AS r(id text, body text, headers jsonb, result jsonb) WHERE t.id = r.id`,
    [json(next), now],
  )
}

async function scrubAttemptRows(
  q: Queryable,
  rows: AttemptRow[],
  now: number,
  subject?: Subject,
  region?: string,
): Promise<void> {
  if (!rows.length) return
  const next = rows.map((r) => {
    const n = scrubAttempt(
      { exchange: r.exchange, message: r.message, lastError: r.last_error },
      r.signal,
      subject,
      region,
    )
    return {
      id: r.id,
      delivery_id: r.delivery_id,
      exchange: n.exchange ?? null,
      message: n.message,
      last_error: n.lastError,
    }
  })
  await q.query(
    `UPDATE attempts t SET exchange = r.exchange, message = r.message, scrubbed_at = $2
     FROM jsonb_to_recordset($1::jsonb) AS r(id text, exchange jsonb, message text) WHERE t.id = r.id`,
    [json(next), now],
  )
  const errors = next.filter((n, i) => n.last_error !== rows[i].last_error)
  if (errors.length)
    await q.query(
      `UPDATE deliveries t SET last_error = r.last_error
       FROM jsonb_to_recordset($1::jsonb) AS r(delivery_id text, last_error text) WHERE t.id = r.delivery_id`,
      [json(errors)],
    )
}

const ATTEMPT_SELECT = `SELECT a.id, a.exchange, a.message, a.delivery_id, d.last_error, s.body AS signal
  FROM attempts a LEFT JOIN deliveries d ON d.id = a.delivery_id LEFT JOIN signals s ON s.id = d.signal_id`

async function scrubChunk(
  pool: pg.Pool,
  table: string,
  cutoff: number,
  now: number,
  limit: number,
  region: string | undefined,
): Promise<number> {
  return tx(pool, async (q) => {
    if (table === 'raw_inputs') {
      const rows = await q.query<RawRow>(
        `SELECT id, content_type, headers, body, result FROM raw_inputs
         WHERE received_at < $1 AND scrubbed_at IS NULL ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [cutoff, limit],
      )
      await scrubRawRows(q, rows, now, undefined, region)
      return rows.length
    }
    if (table === 'attempts') {
      // the signal that was sent says what the attempt's URL and body may hold
      const rows = await q.query<AttemptRow>(
        `${ATTEMPT_SELECT} WHERE a.started_at < $1 AND a.scrubbed_at IS NULL ORDER BY a.started_at LIMIT $2
         FOR UPDATE OF a SKIP LOCKED`,
        [cutoff, limit],
      )
      await scrubAttemptRows(q, rows, now, undefined, region)
      return rows.length
    }
    const spec = DOC_TABLES[table]
    const rows = await q.query<{ k: string; doc: unknown }>(
      `SELECT ${spec.key} AS k, ${spec.col} AS doc FROM ${table} WHERE ${spec.due}
       ORDER BY ${spec.order} LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [cutoff, limit],
    )
    if (!rows.length) return 0
    await q.query(
      `UPDATE ${table} t SET ${spec.col} = r.doc, scrubbed_at = ${spec.stamp}
       FROM jsonb_to_recordset($1::jsonb) AS r(k text, doc jsonb) WHERE t.${spec.key} = r.k`,
      [json(rows.map((r) => ({ k: r.k, doc: scrubDoc(r.doc, [], undefined, region) }))), now],
    )
    return rows.length
  })
}

// raw inputs and attempts first: they are scrubbed knowing the events and signals, still unscrubbed
const RETENTION_ORDER = ['raw_inputs', 'attempts', 'events', 'signals', 'journeys', 'facts']

export async function scrubExpired(
  pool: pg.Pool,
  cutoff: number,
  now: number,
  opts: { chunk?: number; region?: string } = {},
): Promise<TableCounts> {
  const chunk = opts.chunk ?? 200
  const counts: TableCounts = {}
  for (const table of RETENTION_ORDER)
    for (;;) {
      const n = await scrubChunk(pool, table, cutoff, now, chunk, opts.region)
      if (n > 0) counts[table] = (counts[table] ?? 0) + n
      if (n < chunk) break
    }
  if (Object.keys(counts).length)
    await insertAudit(pool, { action: 'retention', counts, actor: 'retention' }, now)
  return counts
}

async function insertAudit(
  pool: pg.Pool | Queryable,
  e: Omit<AuditEntry, 'id' | 'at'>,
  now: number,
): Promise<string> {
  const id = newId('aud', now)
  const sql =
    'INSERT INTO audit_log (id, at, action, subject, counts, actor) VALUES ($1, $2, $3, $4, $5::jsonb, $6)'
  const params = [id, now, e.action, e.subject ?? null, json(e.counts), e.actor]
  if ('connect' in pool) await query(pool, sql, params)
  else await pool.query(sql, params)
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

/** Re-reads rows under lock and scrubs those that mention the subject; returns how many it scrubbed. */
async function forgetRows(
  q: Queryable,
  table: string,
  keys: string[],
  s: Subject,
  now: number,
): Promise<number> {
  if (table === 'raw_inputs') {
    const rows = (
      await q.query<RawRow>(
        'SELECT id, content_type, headers, body, result FROM raw_inputs WHERE id = ANY($1::text[]) FOR UPDATE',
        [keys],
      )
    ).filter((r) => mentions(s, [r.body, str(r.headers), str(r.result)]))
    await scrubRawRows(q, rows, now, s)
    return rows.length
  }
  if (table === 'attempts') {
    const rows = (
      await q.query<AttemptRow>(`${ATTEMPT_SELECT} WHERE a.id = ANY($1::text[]) FOR UPDATE OF a`, [keys])
    ).filter((r) => mentions(s, [str(r.exchange), r.message]))
    // the delivery's last_error is deletion's own row (table deliveries), not the attempt's
    await scrubAttemptRows(
      q,
      rows.map((r) => ({ ...r, last_error: null })),
      now,
      s,
    )
    return rows.length
  }
  if (table === 'deliveries') {
    const rows = (
      await q.query<{ id: string; last_error: string | null }>(
        'SELECT id, last_error FROM deliveries WHERE id = ANY($1::text[]) FOR UPDATE',
        [keys],
      )
    ).filter((r) => mentions(s, [r.last_error]))
    for (const r of rows) {
      const next = scrubDoc(r.last_error, [], s)
      await q.query('UPDATE deliveries SET last_error = $1 WHERE id = $2', [
        typeof next === 'string' ? next : null,
        r.id,
      ])
    }
    return rows.length
  }
  const spec = FORGET_TABLES.find((t) => t.table === table)!
  const col = spec.cols[0]
  const rows = (
    await q.query<{ k: string; doc: unknown }>(
      `SELECT ${spec.key} AS k, ${col} AS doc FROM ${table} WHERE ${spec.key} = ANY($1::text[]) FOR UPDATE`,
      [keys],
    )
  ).filter((r) => mentions(s, [str(r.doc)]))
  if (!rows.length) return 0
  // journeys/facts are marked scrubbed too (retention would find nothing left); timers have no mark
  const mark =
    table === 'timers' ? '' : `, scrubbed_at = ${table === 'journeys' ? 'GREATEST($2, t.updated_at)' : '$2'}`
  await q.query(
    `UPDATE ${table} t SET ${col} = r.doc${mark}
     FROM jsonb_to_recordset($1::jsonb) AS r(k text, doc jsonb) WHERE t.${spec.key} = r.k`,
    [json(rows.map((r) => ({ k: r.k, doc: scrubDoc(r.doc, [], s) }))), ...(mark ? [now] : [])],
  )
  return rows.length
}

export async function forgetSubject(
  pool: pg.Pool,
  req: ForgetRequest,
  now: number,
): Promise<{ deleted: TableCounts; auditId: string }> {
  const subject: Subject = {
    emails: req.needles.emails,
    phones: req.needles.phones,
    hashes: req.hashes,
    region: req.region,
  }
  const patterns = likePatterns(subject)
  const deleted: TableCounts = {}
  for (const t of FORGET_TABLES) {
    // a substring search no index can serve: a full read of the table in a read-only transaction, which
    // may take longer than the pool's 5 s statement timeout on a large table (it blocks no writer)
    const where = t.cols.map((c) => `${c}::text ILIKE ANY($1::text[])`).join(' OR ')
    const keys = (
      await longRead<{ k: string }>(pool, `SELECT ${t.key} AS k FROM ${t.table} WHERE ${where}`, [patterns])
    ).map((r) => r.k)
    for (let i = 0; i < keys.length; i += 200) {
      const part = keys.slice(i, i + 200)
      const n = await tx(pool, (q) => forgetRows(q, t.table, part, subject, now))
      if (n) deleted[t.table] = (deleted[t.table] ?? 0) + n
    }
  }
  // lookup keys hold the subject's identityKey: the alias and the facts themselves go
  const hashPatterns = req.hashes.map((h) => `%${h.toLowerCase()}%`)
  const auditId = await tx(pool, async (q) => {
    for (const [table, col] of [
      ['journey_aliases', 'alias'],
      ['facts', 'key'],
    ]) {
      const rows = await q.query<{ n: number }>(
        `WITH d AS (DELETE FROM ${table} WHERE ${col} LIKE ANY($1::text[]) RETURNING 1) SELECT count(*)::int AS n FROM d`,
        [hashPatterns],
      )
      if (rows[0].n) deleted[table] = (deleted[table] ?? 0) + rows[0].n
    }
    return insertAudit(q, { action: 'forget', subject: req.subject, counts: deleted, actor: req.actor }, now)
  })
  return { deleted, auditId }
}

export async function listAudit(pool: pg.Pool, q: { limit: number; before?: string }): Promise<AuditEntry[]> {
  type Row = {
    id: string
    at: number
    action: AuditEntry['action']
    subject: string | null
    counts: TableCounts
    actor: string
  }
  const rows = q.before
    ? await query<Row>(pool, 'SELECT * FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2', [
        q.before,
        q.limit,
      ])
    : await query<Row>(pool, 'SELECT * FROM audit_log ORDER BY id DESC LIMIT $1', [q.limit])
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    action: r.action,
    ...(r.subject === null ? {} : { subject: r.subject }),
    counts: r.counts,
    actor: r.actor,
  }))
}
