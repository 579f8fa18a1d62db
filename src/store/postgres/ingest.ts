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
import { storedSignal } from '../signal-body.ts'
import type {
  DeriveContext,
  Derived,
  IngestItem,
  IngestRequest,
  IngestResult,
  ItemOutcome,
  JourneyRef,
  JourneyState,
  LeasedJob,
  RawInput,
} from '../types.ts'
import type { DbClock } from './clock.ts'
import { json, type Param, type Queryable } from './pool.ts'

export const WAKE_CHANNEL = 'closeloop_wake'

/** A hot-path lease as the store writes it: `untilDbMs` is its end in server time (clock.ts). */
export type StoreLease = NonNullable<IngestRequest['lease']> & { untilDbMs: number }

/** The caller's lease with its end translated to the server's clock. */
export const storeLease = (lease: IngestRequest['lease'], clock: DbClock): StoreLease | undefined =>
  lease && { ...lease, untilDbMs: clock.toDb(lease.untilMs) }

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
 * Many raw inputs in one statement, from parameters `$p`…`$p+8`. Columns go as text arrays, not a JSON
 * document: a raw body is whatever the client sent, and text parameters carry any string the driver can encode.
 */
const insertRawsSql = (p: number) =>
  `INSERT INTO raw_inputs (id, source, kind, received_at, content_type, headers, body, status, result)
   SELECT id, source, kind, received_at::bigint, content_type, headers::jsonb, body, status::integer, result::jsonb
   FROM unnest($${p}::text[], $${p + 1}::text[], $${p + 2}::text[], $${p + 3}::text[], $${p + 4}::text[],
     $${p + 5}::text[], $${p + 6}::text[], $${p + 7}::text[], $${p + 8}::text[])
     AS r(id, source, kind, received_at, content_type, headers, body, status, result)`

const rawColumns = (raws: RawInput[]): Param[] => {
  const col = (f: (r: RawInput) => string | null) => raws.map(f)
  return [
    col((r) => r.id),
    col((r) => r.source),
    col((r) => r.kind),
    col((r) => String(r.receivedAt)),
    col((r) => r.contentType ?? null),
    col((r) => json(r.headers)),
    col((r) => r.body),
    col((r) => (r.status === undefined ? null : String(r.status))),
    col((r) => (r.result === undefined ? null : json(r.result))),
  ]
}

async function insertRaws(q: Queryable, raws: RawInput[]): Promise<void> {
  if (raws.length === 1) return insertRaw(q, raws[0])
  await q.query(insertRawsSql(1), rawColumns(raws))
}

/**
 * Locks every name the journey may be known by, and the facts the item reads, then reads the journey `FOR
 * UPDATE`: by key, else by the first alias that resolves. Locks are taken in hash order in one statement,
 * so two transactions never wait on each other in a cycle.
 *
 * The facts' locks matter for facts two journeys share: two calls from one caller are two journeys, on two
 * lanes (two open transactions), and each read the repeat-caller fact before the other wrote it, so both
 * converted (16 of 20 simultaneous pairs in a review's reproduction; none on SQLite, whose writer is one
 * transaction at a time).
 */
export async function lockJourney(
  q: Queryable,
  ref: JourneyRef | undefined,
  factKeys: string[] = [],
): Promise<JourneyState | undefined> {
  const names = [...journeyNames(ref), ...journeyNames(ref?.legacy), ...factKeys.map((k) => `fact:${k}`)]
  if (names.length === 0) return undefined
  await q.query(
    `SELECT pg_advisory_xact_lock($1, h) FROM (SELECT DISTINCT hashtext(n) AS h FROM unnest($2::text[]) n ORDER BY h) s`,
    [JOURNEY_LOCK_CLASS, names],
  )
  if (!ref) return undefined
  const found = await readJourney(q, ref)
  if (found || !ref.legacy || !(await anyJourneyNamed(q, ref.legacy))) return found
  return readJourney(q, ref.legacy)
}

/**
 * Whether any of these names exists, in one round trip: the legacy names of a new call resolve to nothing,
 * and trying each (`readJourney`) cost the first event of every call two more round trips.
 */
async function anyJourneyNamed(q: Queryable, ref: { key?: string; aliases?: string[] }): Promise<boolean> {
  const rows = await q.query(
    `SELECT 1 FROM journeys WHERE key = $1 UNION ALL
     SELECT 1 FROM journey_aliases WHERE alias = ANY($2::text[]) LIMIT 1`,
    [ref.key ?? null, ref.aliases ?? []],
  )
  return rows.length > 0
}

const journeyNames = (ref: { key?: string; aliases?: string[] } | undefined) => [
  ...(ref?.key ? [ref.key] : []),
  ...(ref?.aliases ?? []),
]

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

/** Where a request's new signals go: its time and lease, the jobs leased to the caller, pending destinations. */
export interface SignalSink {
  now: number
  lease?: StoreLease
  leased: LeasedJob[]
  pending: Set<string>
}

/** Writes what `derive` decided, exactly as the SQLite store does; collects leased jobs and pending destinations. */
export async function applyDerived(
  q: Queryable,
  d: Derived,
  sink: SignalSink,
): Promise<Array<{ id: string; name: string }>> {
  await applyState(q, d, sink.now)
  const created = await insertSignals(
    q,
    d.signals.map((draft) => ({ draft, sink })),
  )
  return created.map((i) => ({ id: d.signals[i].signal.id, name: d.signals[i].signal.name }))
}

/** The journey, facts and timers `derive` wrote: nothing to do (no round trip) for a plain ECAPI event. */
async function applyState(q: Queryable, d: Derived, now: number): Promise<void> {
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
}

type SignalDraft = { draft: Derived['signals'][number]; sink: SignalSink }

/** A signal to insert (its draft's index) with its deliveries, each leased to the caller or pending. */
interface PlannedSignal {
  index: number
  signal: Derived['signals'][number]['signal']
  sink: SignalSink
  rows: Array<{ delivery: Delivery; take: boolean }>
}

/** A signal drafted twice in one call counts once, its first draft winning, as it would one after the other. */
function planSignals(drafts: SignalDraft[]): PlannedSignal[] {
  const firstOf = firstIndexByKey(drafts, (d) => d.draft.signal.id)
  return [...firstOf.values()].map((index) => {
    const { draft, sink } = drafts[index]
    const { signal, destinations } = draft
    const rows = destinations.map((destination) => {
      const take = sink.lease?.destinations.has(destination) ?? false
      const delivery: Delivery = {
        id: newId('dlv', sink.now),
        signalId: signal.id,
        destination,
        status: take ? 'in_flight' : 'pending',
        attempts: 0,
        dueAt: sink.now,
        idempotencyKey: signal.id,
        createdAt: sink.now,
        updatedAt: sink.now,
      }
      return { delivery, take }
    })
    return { index, signal, sink, rows }
  })
}

/**
 * Signals (`$p`, named `s`) and the deliveries of those the INSERT created (`$p+1`, joined to its
 * RETURNING), as two data-modifying CTEs: a signal derived again (a repeated callback in another dedup
 * bucket) sends nothing.
 */
const insertSignalsCtes = (p: number) =>
  `s AS (
     INSERT INTO signals (id, event_id, name, data_set_id, occurred_at, value, currency, body, created_at)
     SELECT x.id, x.event_id, x.name, x.data_set_id, x.occurred_at, x.value, x.currency, x.body, x.created_at
     FROM jsonb_to_recordset($${p}::jsonb) AS x(id text, event_id text, name text, data_set_id text,
       occurred_at bigint, value double precision, currency text, body jsonb, created_at bigint)
     ON CONFLICT (id) DO NOTHING RETURNING id
   ), d AS (
     INSERT INTO deliveries (id, signal_id, destination, status, attempts, due_at, lease_token, lease_until,
       idempotency_key, created_at, updated_at)
     SELECT r.id, s.id, r.destination, r.status, 0, r.at, r.lease_token, r.lease_until, s.id, r.at, r.at
     FROM s JOIN jsonb_to_recordset($${p + 1}::jsonb) AS r(id text, signal_id text, destination text, status text,
       lease_token text, lease_until bigint, at bigint) ON r.signal_id = s.id
   )`

const signalParams = (planned: PlannedSignal[]): Param[] => [
  json(
    planned.map(({ signal, sink }) => ({
      id: signal.id,
      event_id: signal.eventId,
      name: signal.name,
      data_set_id: signal.dataSetId,
      occurred_at: signal.occurredAt,
      value: signal.value ?? null,
      currency: signal.currency ?? null,
      body: storedSignal(signal),
      created_at: sink.now,
    })),
  ),
  json(
    planned.flatMap(({ rows, sink }) =>
      rows.map(({ delivery, take }) => ({
        id: delivery.id,
        signal_id: delivery.signalId,
        destination: delivery.destination,
        status: delivery.status,
        lease_token: take ? sink.lease?.token : null,
        lease_until: take ? sink.lease?.untilDbMs : null,
        at: sink.now,
      })),
    ),
  ),
]

/** The created signals' deliveries go to their sinks, leased or pending; returns the created drafts' indexes. */
function collectCreated(planned: PlannedSignal[], created: (id: string) => boolean): number[] {
  const out: number[] = []
  for (const { index, signal, sink, rows } of planned) {
    if (!created(signal.id)) continue
    out.push(index)
    for (const { delivery, take } of rows) {
      if (take && sink.lease)
        sink.leased.push({ delivery, signal, leaseToken: sink.lease.token, leaseUntil: sink.lease.untilMs })
      else sink.pending.add(delivery.destination)
    }
  }
  return out
}

/** Signals and their deliveries in one round trip, however many. */
async function insertSignals(q: Queryable, drafts: SignalDraft[]): Promise<number[]> {
  if (drafts.length === 0) return []
  const planned = planSignals(drafts)
  const rows = await q.query<{ id: string }>(
    `WITH ${insertSignalsCtes(1)} SELECT id FROM s`,
    signalParams(planned),
  )
  const created = new Set(rows.map((r) => r.id))
  return collectCreated(planned, (id) => created.has(id))
}

/** For each key, the index of the first item that has it (items without a key are left out). */
function firstIndexByKey<T>(items: T[], key: (item: T) => string | null): Map<string, number> {
  const first = new Map<string, number>()
  items.forEach((item, i) => {
    const k = key(item)
    if (k !== null && !first.has(k)) first.set(k, i)
  })
  return first
}

/** Tells every listening node (and ourselves; `src` lets us skip our own) that these destinations have work. */
export async function notifyWake(
  q: Queryable,
  source: string,
  destinations: Iterable<string>,
): Promise<void> {
  const list = [...destinations]
  if (list.length === 0) return
  await q.query('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, wakePayload(source, list)])
}

/** What a wake-up says: who sent it (so a node skips its own) and which destinations got work. */
export const wakePayload = (source: string, destinations: string[]) =>
  JSON.stringify({ src: source, d: destinations })

type EventRow = { id: string }

/** Requests whose items read no journey and no facts (plain ECAPI events) can be written together, set-wise. */
export const isSetWise = (req: IngestRequest) => req.items.every((it) => !it.journey && !it.facts?.length)

/** One request being written: its time and lease, and what it produced. */
interface Writing extends SignalSink {
  req: IngestRequest
  outcomes: ItemOutcome[]
  holdbacks: string[]
}

const writing = (req: IngestRequest, now: number, clock: DbClock): Writing => ({
  req,
  now,
  lease: storeLease(req.lease, clock),
  leased: [],
  pending: new Set(),
  outcomes: [],
  holdbacks: [],
})

/** The raw inputs with their results, once the requests' outcomes are known. */
const rawsWithResults = (ws: Writing[]) =>
  ws.map(({ req, outcomes }) => (req.result ? { ...req.raw, result: req.result(outcomes) } : req.raw))

/** Destinations that got pending work in any of the requests. */
const pendingOf = (ws: Writing[]) => [...new Set(ws.flatMap((w) => [...w.pending]))]

// holdbacks: reasons derive held a signal back (repeat caller, spam…), for the metrics, as on SQLite
const answers = (ws: Writing[]): IngestResult[] =>
  ws.map((w) => ({
    outcomes: w.outcomes,
    leased: w.leased,
    pendingDestinations: [...w.pending],
    holdbacks: w.holdbacks,
  }))

/** The stored raw input and the caller's answer, once a request's outcomes are known. */
async function finish(q: Queryable, ws: Writing[], wakeSource: string): Promise<IngestResult[]> {
  // the raw inputs last, with their results: one statement instead of an insert and an update each
  await insertRaws(q, rawsWithResults(ws))
  const pending = pendingOf(ws)
  if (q.wake) for (const d of pending) q.wake.add(d)
  else await notifyWake(q, wakeSource, pending)
  return answers(ws)
}

export async function ingestOp(
  q: Queryable,
  req: IngestRequest,
  now: number,
  wakeSource: string,
  clock: DbClock,
): Promise<IngestResult> {
  const w = writing(req, now, clock)
  // items that read no journey and no facts cannot see each other's writes, so they are written set-wise;
  // call events go one by one, each seeing what the last one wrote
  if (isSetWise(req)) await ingestSetWise(q, [w])
  else await ingestEach(q, w)
  return (await finish(q, [w], wakeSource))[0]
}

/**
 * Several set-wise requests (`isSetWise`) of one group commit written as one: the same few statements for
 * the whole batch of single-event webhooks as for one request. Earlier requests win a contested key, as they
 * would one after the other.
 */
export async function ingestMany(
  q: Queryable,
  batch: Array<{ req: IngestRequest; now: number }>,
  wakeSource: string,
  clock: DbClock,
): Promise<IngestResult[]> {
  const ws = batch.map(({ req, now }) => writing(req, now, clock))
  await ingestSetWise(q, ws)
  return finish(q, ws, wakeSource)
}

/**
 * Set-wise requests in one statement, in autocommit: one round trip where `ingestMany` takes five (BEGIN,
 * events, signals and deliveries, raw inputs, COMMIT). Every `derive` runs first, as if each event were
 * new; events, signals, deliveries, raw inputs (with their results) and the wake-up go as data-modifying
 * CTEs of one INSERT, atomic on their own. If a dedup key or a signal id was already taken, the
 * planned results are wrong: `closeloop_settle_ingest` (migration 5) raises CL409, the statement writes
 * nothing, and the caller writes the batch the careful way. Also `undefined` (nothing sent) when the plan
 * needs that anyway: two items with one key, a signal drafted twice, or a `derive` that writes state.
 *
 * @example
 *   const results = (await ingestInOne(q, batch, self, clock)) ?? (await ingestMany(q, batch, self, clock))
 */
export async function ingestInOne(
  q: Queryable,
  batch: Array<{ req: IngestRequest; now: number }>,
  wakeSource: string,
  clock: DbClock,
): Promise<IngestResult[] | undefined> {
  const ws = batch.map(({ req, now }) => writing(req, now, clock))
  const items = setWiseItems(ws)
  const keyed = items.filter((it) => it.row.dedup_key !== null)
  if (firstIndexByKey(keyed, (it) => it.row.dedup_key).size < keyed.length) return undefined
  const signals = signalDrafts()
  for (const { w, item, row } of items) if (writesState(signals.accept(w, item, row))) return undefined
  const planned = planSignals(signals.drafts)
  if (planned.length < signals.drafts.length) return undefined
  signals.credit(collectCreated(planned, () => true))
  const pending = pendingOf(ws)
  await q.query(
    `WITH e AS (${insertEventsSql(1)}), ${insertSignalsCtes(2)}, r AS (${insertRawsSql(4)})
     SELECT closeloop_settle_ingest((SELECT count(*) FROM e), $13, (SELECT count(*) FROM s), $14, $15, $16)`,
    [
      json(items.map((it) => it.row)),
      ...signalParams(planned),
      ...rawColumns(rawsWithResults(ws)),
      items.length,
      planned.length,
      WAKE_CHANNEL,
      pending.length ? wakePayload(wakeSource, pending) : null,
    ],
  )
  return answers(ws)
}

/** Whether `derive` wrote a journey, facts or timers, which the one-statement ingest does not write. */
const writesState = (d: Derived) =>
  Boolean(d.journey || Object.keys(d.facts ?? {}).length || d.timers?.length || d.cancelTimers?.length)

const eventRow = (w: Writing, item: IngestItem) => ({
  id: newId('evt', w.now),
  raw_id: w.req.raw.id,
  dedup_key: item.dedupKey ?? null,
  data_set_id: item.event.data_set_id,
  event_type: item.event.event_type,
  occurred_at: item.event.timestamp,
  call_id: item.event.ext?.call?.call_id ?? null,
  body: item.event,
  created_at: w.now,
})

type EventRowOut = ReturnType<typeof eventRow>

/** Accepted rows (their key, if any, unseen) or duplicate rows (of `duplicate_of`) from `$p`, in one INSERT. */
const insertEventsSql = (p: number) =>
  `INSERT INTO events (id, raw_id, dedup_key, status, duplicate_of, data_set_id, event_type, occurred_at,
     call_id, body, created_at)
   SELECT x.id, x.raw_id, x.dedup_key, CASE WHEN x.duplicate_of IS NULL THEN 'accepted' ELSE 'duplicate' END,
     x.duplicate_of, x.data_set_id, x.event_type, x.occurred_at, x.call_id, x.body, x.created_at
   FROM jsonb_to_recordset($${p}::jsonb) AS x(id text, raw_id text, dedup_key text, duplicate_of text,
     data_set_id text, event_type text, occurred_at bigint, call_id text, body jsonb, created_at bigint)
   ON CONFLICT (dedup_key) DO NOTHING RETURNING id`

function insertEvents(q: Queryable, rows: Array<EventRowOut & { duplicate_of?: string }>) {
  return q.query<EventRow>(insertEventsSql(1), [json(rows)])
}

/**
 * Events with dedup in a constant number of round trips, however many: every event in one INSERT (a key
 * already taken, here or by an earlier row, makes the row a duplicate of the winner), and only if some key
 * was taken, one read of the winners and the duplicates in one INSERT. A concurrent insert of the same key
 * on another node makes ours wait for its commit, so the winner is then visible.
 */
async function recordEvents(
  q: Queryable,
  rows: EventRowOut[],
): Promise<{ accepted: Set<string>; winners: Map<string, string> }> {
  // only the first row with a key competes for it; later ones are its duplicates
  const firstWithKey = firstIndexByKey(rows, (r) => r.dedup_key)
  const competing = rows.filter((r, i) => r.dedup_key === null || firstWithKey.get(r.dedup_key) === i)
  const accepted = new Set((await insertEvents(q, competing)).map((r) => r.id))
  const lost = rows.filter((r) => !accepted.has(r.id))
  const winners = new Map<string, string>()
  if (lost.length === 0) return { accepted, winners }
  const keys = [...new Set(lost.map((r) => String(r.dedup_key)))]
  for (const w of await q.query<{ id: string; dedup_key: string }>(
    "SELECT id, dedup_key FROM events WHERE dedup_key = ANY($1::text[]) AND status = 'accepted'",
    [keys],
  ))
    winners.set(w.dedup_key, w.id)
  const dups = lost.map((r) => {
    const winner = r.dedup_key === null ? undefined : winners.get(r.dedup_key)
    // cannot happen under READ COMMITTED (the conflicting row committed before our INSERT returned); if it
    // ever does, a serialization failure makes group commit re-run the request
    if (!winner) throw Object.assign(new Error('dedup winner not visible'), { code: '40001' })
    return { ...r, dedup_key: null, duplicate_of: winner }
  })
  await insertEvents(q, dups)
  return { accepted, winners }
}

const duplicateOutcome = (row: EventRowOut, winners: Map<string, string>): ItemOutcome => ({
  status: 'duplicate',
  eventId: row.id,
  duplicateOf: winners.get(String(row.dedup_key)),
  signals: [],
})

/**
 * Every event through `recordEvents`, then each accepted one derived, then every signal and delivery in one
 * more statement (`insertSignals`): a constant number of round trips whatever the number of events.
 */
async function ingestSetWise(q: Queryable, ws: Writing[]): Promise<void> {
  const items = setWiseItems(ws)
  const { accepted, winners } = await recordEvents(
    q,
    items.map((it) => it.row),
  )
  const signals = signalDrafts()
  for (const { w, item, row } of items) {
    if (accepted.has(row.id)) await applyState(q, signals.accept(w, item, row), w.now)
    else w.outcomes.push(duplicateOutcome(row, winners))
  }
  signals.credit(await insertSignals(q, signals.drafts))
}

/** Every item of set-wise requests with the event row it becomes, in request order. */
const setWiseItems = (ws: Writing[]) =>
  ws.flatMap((w) => w.req.items.map((item) => ({ w, item, row: eventRow(w, item) })))

/**
 * The signal drafts of set-wise items, each remembering the outcome it belongs to. `accept` derives an
 * accepted item (it reads no journey and no facts), records its outcome and queues its drafts; `credit`
 * names the signals that were created (by draft index) in their outcomes.
 */
function signalDrafts() {
  const drafts: SignalDraft[] = []
  const owner: ItemOutcome[] = []
  return {
    drafts,
    accept(w: Writing, item: IngestItem, row: EventRowOut): Derived {
      const derived = item.derive({ eventId: row.id, rawId: w.req.raw.id, facts: {}, now: w.now })
      w.holdbacks.push(...(derived.holdbacks ?? []))
      const outcome: ItemOutcome = { status: 'accepted', eventId: row.id, signals: [] }
      w.outcomes.push(outcome)
      for (const draft of derived.signals) {
        drafts.push({ draft, sink: w })
        owner.push(outcome)
      }
      return derived
    },
    credit(created: number[]) {
      for (const k of created)
        owner[k].signals.push({ id: drafts[k].draft.signal.id, name: drafts[k].draft.signal.name })
    },
  }
}

/** One item after another: each derive sees the journey and facts the previous items wrote. */
async function ingestEach(q: Queryable, w: Writing): Promise<void> {
  for (const item of w.req.items) {
    const row = eventRow(w, item)
    const { accepted, winners } = await recordEvents(q, [row])
    if (!accepted.has(row.id)) {
      w.outcomes.push(duplicateOutcome(row, winners))
      continue
    }
    const ctx: DeriveContext = {
      eventId: row.id,
      rawId: w.req.raw.id,
      journey: await lockJourney(q, item.journey, item.facts),
      facts: await loadFacts(q, item.facts, w.now),
      now: w.now,
    }
    const derived = item.derive(ctx)
    w.holdbacks.push(...(derived.holdbacks ?? []))
    const signals = await applyDerived(q, derived, w)
    w.outcomes.push({ status: 'accepted', eventId: row.id, signals })
  }
}
