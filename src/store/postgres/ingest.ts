/**
 * The ingest transaction body (run inside a group-commit savepoint) and the pieces the timer path shares:
 * loading a journey under lock, loading facts, and writing what `derive` returned.
 *
 * Cross-node correctness:
 *  - dedup: `INSERT … ON CONFLICT (dedup_key) DO NOTHING RETURNING id`. A concurrent insert of the same key
 *    on another node makes ours wait for its commit; then we read the winner and record a duplicate.
 *  - journeys: a transaction-scoped advisory lock per journey key/alias serializes read-derive-write on one
 *    call across nodes, including the first event of a call (no row yet to `FOR UPDATE`); the row itself
 *    is also read `FOR UPDATE`.
 */
import type { Delivery } from '../../model/signal.ts'
import { newId } from '../ids.ts'
import type {
  DeriveContext,
  Derived,
  IngestRequest,
  IngestResult,
  ItemOutcome,
  JourneyState,
  LeasedJob,
  RawInput,
} from '../types.ts'
import { json, type Param, type Queryable } from './pool.ts'

export const WAKE_CHANNEL = 'closeloop_wake'

/** Advisory lock class id for journeys ('cloo'); the object id is `hashtext(key)`. Migrations use another class. */
export const JOURNEY_LOCK_CLASS = 0x636c6f6f

export async function insertRaw(q: Queryable, raw: RawInput): Promise<void> {
  await q.query(
    `INSERT INTO raw_inputs (id, source, kind, received_at, content_type, headers, body, status, result)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9::jsonb)`,
    [
      raw.id,
      raw.source,
      raw.kind,
      raw.receivedAt,
      raw.contentType ?? null,
      json(raw.headers),
      raw.body,
      raw.status ?? null,
      raw.result === undefined ? null : json(raw.result),
    ],
  )
}

/**
 * Locks every name the journey may be known by, then reads it `FOR UPDATE`: by key, else by the first
 * alias that resolves. Locks are taken in hash order so two transactions never wait on each other in a cycle.
 */
export async function lockJourney(
  q: Queryable,
  ref: { key?: string; aliases?: string[] } | undefined,
): Promise<JourneyState | undefined> {
  if (!ref) return undefined
  const names = [...(ref.key ? [ref.key] : []), ...(ref.aliases ?? [])]
  if (names.length === 0) return undefined
  await q.query(
    `SELECT pg_advisory_xact_lock($1, h) FROM (SELECT DISTINCT hashtext(n) AS h FROM unnest($2::text[]) n ORDER BY h) s`,
    [JOURNEY_LOCK_CLASS, names],
  )
  return readJourney(q, ref)
}

/** For the timer path: take the journey's lock only if free right now; `false` means come back later. */
export async function tryLockJourney(q: Queryable, key: string): Promise<boolean> {
  const [r] = await q.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok', [
    JOURNEY_LOCK_CLASS,
    key,
  ])
  return r.ok
}

export async function readJourney(
  q: Queryable,
  ref: { key?: string; aliases?: string[] },
): Promise<JourneyState | undefined> {
  type J = { key: string; state: Record<string, unknown> }
  if (ref.key) {
    const [row] = await q.query<J>('SELECT key, state FROM journeys WHERE key = $1 FOR UPDATE', [ref.key])
    if (row) return { key: row.key, state: row.state }
  }
  for (const alias of ref.aliases ?? []) {
    const [row] = await q.query<J>(
      `SELECT j.key, j.state FROM journey_aliases a JOIN journeys j ON j.key = a.journey_key
       WHERE a.alias = $1 FOR UPDATE OF j`,
      [alias],
    )
    if (row) return { key: row.key, state: row.state }
  }
  return undefined
}

export async function loadFacts(
  q: Queryable,
  keys: string[] | undefined,
  now: number,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  if (!keys?.length) return out
  const rows = await q.query<{ key: string; value: unknown }>(
    'SELECT key, value FROM facts WHERE key = ANY($1::text[]) AND expires_at > $2',
    [keys, now],
  )
  for (const r of rows) out[r.key] = r.value
  return out
}

export async function writeFacts(
  q: Queryable,
  facts: Record<string, { value: unknown; ttlMs: number } | null>,
  now: number,
): Promise<void> {
  for (const [k, v] of Object.entries(facts)) {
    if (v === null) await q.query('DELETE FROM facts WHERE key = $1', [k])
    else
      await q.query(
        `INSERT INTO facts (key, value, expires_at) VALUES ($1, $2::jsonb, $3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
        [k, json(v.value), now + v.ttlMs],
      )
  }
}

/**
 * Read-modify-write of facts (DNI pools) across nodes: a transaction-level advisory lock per key (sorted, so two
 * callers never wait on each other in opposite orders) serializes writers even when the row does not exist yet.
 */
export async function updateFacts<T>(
  q: Queryable,
  keys: string[],
  update: (facts: Record<string, unknown>) => {
    writes: Record<string, { value: unknown; ttlMs: number } | null>
    result: T
  },
  now: number,
): Promise<T> {
  for (const k of [...keys].sort()) await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fact:${k}`])
  const { writes, result } = update(await loadFacts(q, keys, now))
  await writeFacts(q, writes, now)
  return result
}

/** Writes what `derive` decided, exactly as the SQLite store does; collects leased jobs and pending destinations. */
export async function applyDerived(
  q: Queryable,
  d: Derived,
  now: number,
  lease: IngestRequest['lease'],
  leased: LeasedJob[],
  pending: Set<string>,
): Promise<Array<{ id: string; name: string }>> {
  if (d.journey)
    await q.query(
      `WITH j AS (
         INSERT INTO journeys (key, state, updated_at) VALUES ($1, $2::jsonb, $3)
         ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
       )
       INSERT INTO journey_aliases (alias, journey_key) SELECT DISTINCT a, $1 FROM unnest($4::text[]) a
       ON CONFLICT (alias) DO UPDATE SET journey_key = excluded.journey_key`,
      [d.journey.key, json(d.journey.state), now, d.journey.aliases ?? []],
    )
  await writeFacts(q, d.facts ?? {}, now)
  if (d.cancelTimers?.length)
    await q.query('DELETE FROM timers WHERE key = ANY($1::text[])', [d.cancelTimers])
  for (const t of d.timers ?? [])
    await q.query(
      `INSERT INTO timers (id, key, kind, due_at, payload) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, payload = excluded.payload,
         lease_token = NULL, lease_until = NULL`,
      [newId('tmr', now), t.key, t.kind, t.dueAt, json(t.payload)],
    )
  const created: Array<{ id: string; name: string }> = []
  for (const { signal, destinations } of d.signals) {
    const rows = destinations.map((destination) => {
      const take = lease?.destinations.has(destination) ?? false
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
      return { delivery, take }
    })
    // one round trip: the signal, and its deliveries only if the signal is new (joined to the INSERT's
    // RETURNING) — the same signal derived again (a repeated callback in another dedup bucket) sends nothing
    const [ins] = await q.query<{ n: number }>(
      `WITH s AS (
         INSERT INTO signals (id, event_id, name, data_set_id, occurred_at, value, currency, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9) ON CONFLICT (id) DO NOTHING RETURNING id
       ), d AS (
         INSERT INTO deliveries (id, signal_id, destination, status, attempts, due_at, lease_token, lease_until,
           idempotency_key, created_at, updated_at)
         SELECT r.id, s.id, r.destination, r.status, 0, $9, r.lease_token, r.lease_until, s.id, $9, $9
         FROM s, jsonb_to_recordset($10::jsonb) AS r(id text, destination text, status text, lease_token text,
           lease_until bigint)
       )
       SELECT count(*)::int AS n FROM s`,
      [
        signal.id,
        signal.eventId,
        signal.name,
        signal.dataSetId,
        signal.occurredAt,
        signal.value ?? null,
        signal.currency ?? null,
        json(signal),
        now,
        json(
          rows.map(({ delivery, take }) => ({
            id: delivery.id,
            destination: delivery.destination,
            status: delivery.status,
            lease_token: take ? lease?.token : null,
            lease_until: take ? lease?.untilMs : null,
          })),
        ),
      ],
    )
    if (ins.n === 0) continue
    created.push({ id: signal.id, name: signal.name })
    for (const { delivery, take } of rows) {
      if (take && lease) leased.push({ delivery, signal, leaseToken: lease.token, leaseUntil: lease.untilMs })
      else pending.add(delivery.destination)
    }
  }
  return created
}

/** Tells every listening node (and ourselves; `src` lets us skip our own) that these destinations have work. */
export async function notifyWake(
  q: Queryable,
  source: string,
  destinations: Iterable<string>,
): Promise<void> {
  const list = [...destinations]
  if (list.length === 0) return
  await q.query('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, JSON.stringify({ src: source, d: list })])
}

type EventRow = { id: string }

export async function ingestOp(
  q: Queryable,
  req: IngestRequest,
  now: number,
  wakeSource: string,
): Promise<IngestResult> {
  await insertRaw(q, req.raw)
  const outcomes: ItemOutcome[] = []
  const leased: LeasedJob[] = []
  const pending = new Set<string>()
  const holdbacks: string[] = []
  for (const item of req.items) {
    const eventId = newId('evt', now)
    const ev = item.event
    const cols: Param[] = [
      req.raw.id,
      ev.data_set_id,
      ev.event_type,
      ev.timestamp,
      ev.ext?.call?.call_id ?? null,
      json(ev),
      now,
    ]
    const inserted = await q.query<EventRow>(
      `INSERT INTO events (id, raw_id, dedup_key, status, duplicate_of, data_set_id, event_type, occurred_at, call_id, body, created_at)
       VALUES ($1, $2, $3, 'accepted', NULL, $4, $5, $6, $7, $8::jsonb, $9)
       ON CONFLICT (dedup_key) DO NOTHING RETURNING id`,
      [eventId, cols[0], item.dedupKey ?? null, ...cols.slice(1)],
    )
    if (inserted.length === 0) {
      // the key's winner committed before our insert returned (or sits earlier in this transaction)
      const [winner] = await q.query<EventRow>('SELECT id FROM events WHERE dedup_key = $1', [
        item.dedupKey ?? null,
      ])
      // cannot happen under READ COMMITTED (the conflicting row committed before our INSERT returned); if it
      // ever does, a serialization failure makes group commit re-run this request
      if (!winner) throw Object.assign(new Error('dedup winner not visible'), { code: '40001' })
      await q.query(
        `INSERT INTO events (id, raw_id, dedup_key, status, duplicate_of, data_set_id, event_type, occurred_at, call_id, body, created_at)
         VALUES ($1, $2, NULL, 'duplicate', $3, $4, $5, $6, $7, $8::jsonb, $9)`,
        [eventId, cols[0], winner.id, ...cols.slice(1)],
      )
      outcomes.push({ status: 'duplicate', eventId, duplicateOf: winner.id, signals: [] })
      continue
    }
    const ctx: DeriveContext = {
      eventId,
      rawId: req.raw.id,
      journey: await lockJourney(q, item.journey),
      facts: await loadFacts(q, item.facts, now),
      now,
    }
    const derived = item.derive(ctx)
    holdbacks.push(...(derived.holdbacks ?? []))
    const signals = await applyDerived(q, derived, now, req.lease, leased, pending)
    outcomes.push({ status: 'accepted', eventId, signals })
  }
  if (req.result)
    await q.query('UPDATE raw_inputs SET result = $1::jsonb WHERE id = $2', [
      json(req.result(outcomes)),
      req.raw.id,
    ])
  await notifyWake(q, wakeSource, pending)
  // holdbacks: reasons derive held a signal back (repeat caller, spam…), for the metrics, as on SQLite
  const result = { outcomes, leased, pendingDestinations: [...pending], holdbacks }
  return result
}
