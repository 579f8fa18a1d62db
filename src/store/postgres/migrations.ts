/**
 * Versioned PostgreSQL migrations, the same tables as SQLite with PostgreSQL types: epoch milliseconds as
 * `bigint`, documents as `jsonb`, and partial indexes shaped for the claim and sweep queries.
 * Append only: a released migration is never edited.
 *
 * `migrate()` holds a session advisory lock for its whole run, so several nodes starting at once apply
 * each migration exactly once: the others wait on the lock, then find nothing left to do.
 */
import type pg from 'pg'
import { type Migration, pendingNames } from '../migrations.ts'

export const PG_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'spine',
    sql: `
CREATE TABLE raw_inputs (
  id text PRIMARY KEY,
  source text NOT NULL,
  kind text NOT NULL,
  received_at bigint NOT NULL,
  content_type text,
  headers jsonb NOT NULL,
  body text NOT NULL,
  status integer,
  result jsonb
);
CREATE TABLE events (
  id text PRIMARY KEY,
  raw_id text NOT NULL,
  dedup_key text UNIQUE,
  status text NOT NULL CHECK (status IN ('accepted', 'duplicate')),
  duplicate_of text,
  data_set_id text NOT NULL,
  event_type text NOT NULL,
  occurred_at bigint NOT NULL,
  call_id text,
  body jsonb NOT NULL,
  created_at bigint NOT NULL
);
CREATE INDEX events_call ON events (call_id) WHERE call_id IS NOT NULL;
CREATE TABLE signals (
  id text PRIMARY KEY,
  event_id text NOT NULL,
  name text NOT NULL,
  data_set_id text NOT NULL,
  occurred_at bigint NOT NULL,
  value double precision,
  currency text,
  body jsonb NOT NULL,
  created_at bigint NOT NULL
);
CREATE INDEX signals_event ON signals (event_id);
CREATE TABLE deliveries (
  id text PRIMARY KEY,
  signal_id text NOT NULL,
  destination text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead', 'skipped')),
  attempts integer NOT NULL DEFAULT 0,
  due_at bigint NOT NULL,
  lease_token text,
  lease_until bigint,
  idempotency_key text NOT NULL,
  last_error text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  UNIQUE (signal_id, destination)
);
-- claims filter by destination and take the earliest due: destination in the key avoids heap visits for
-- rows of destinations that are paused (their backlog can be large)
CREATE INDEX deliveries_due ON deliveries (due_at, destination) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until, destination) WHERE status = 'in_flight';
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE TABLE attempts (
  id text PRIMARY KEY,
  delivery_id text NOT NULL,
  n integer NOT NULL,
  started_at bigint NOT NULL,
  outcome text NOT NULL,
  code text,
  message text,
  exchange jsonb
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);
CREATE TABLE timers (
  id text PRIMARY KEY,
  key text NOT NULL UNIQUE,
  kind text NOT NULL,
  due_at bigint NOT NULL,
  payload jsonb NOT NULL,
  lease_token text,
  lease_until bigint
);
CREATE INDEX timers_due ON timers (due_at);
CREATE TABLE journeys (
  key text PRIMARY KEY,
  state jsonb NOT NULL,
  updated_at bigint NOT NULL
);
CREATE TABLE journey_aliases (
  alias text PRIMARY KEY,
  journey_key text NOT NULL
);
CREATE TABLE facts (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  expires_at bigint NOT NULL
);
CREATE TABLE destination_state (
  name text PRIMARY KEY,
  state jsonb NOT NULL,
  updated_at bigint NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'privacy',
    // retention marks each scrubbed row (scrubbed_at) so it is processed once; the partial indexes hold only
    // rows still to scrub (about raw_pii_days of data), so finding them never scans history
    sql: `
ALTER TABLE raw_inputs ADD COLUMN scrubbed_at bigint;
ALTER TABLE events ADD COLUMN scrubbed_at bigint;
ALTER TABLE signals ADD COLUMN scrubbed_at bigint;
ALTER TABLE attempts ADD COLUMN scrubbed_at bigint;
ALTER TABLE journeys ADD COLUMN scrubbed_at bigint;
ALTER TABLE facts ADD COLUMN scrubbed_at bigint;
ALTER TABLE facts ADD COLUMN written_at bigint;
UPDATE facts SET written_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
-- facts carry no write time of their own: the database stamps one on every write, whoever writes, and a
-- rewritten value (an upsert) is due for scrubbing again
CREATE FUNCTION closeloop_facts_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.written_at := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
  ELSIF NEW.value IS DISTINCT FROM OLD.value AND NEW.scrubbed_at IS NOT DISTINCT FROM OLD.scrubbed_at THEN
    NEW.written_at := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    NEW.scrubbed_at := NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER facts_written BEFORE INSERT OR UPDATE ON facts FOR EACH ROW EXECUTE FUNCTION closeloop_facts_written();
CREATE INDEX raw_inputs_unscrubbed ON raw_inputs (received_at) WHERE scrubbed_at IS NULL;
CREATE INDEX events_unscrubbed ON events (created_at) WHERE scrubbed_at IS NULL;
CREATE INDEX signals_unscrubbed ON signals (created_at) WHERE scrubbed_at IS NULL;
CREATE INDEX attempts_unscrubbed ON attempts (started_at) WHERE scrubbed_at IS NULL;
CREATE INDEX journeys_unscrubbed ON journeys (updated_at) WHERE scrubbed_at IS NULL OR scrubbed_at < updated_at;
CREATE INDEX facts_unscrubbed ON facts (written_at) WHERE scrubbed_at IS NULL;
-- a raw body is scrubbed knowing the canonical events read from it (the caller in E.164 finds any format)
CREATE INDEX events_raw ON events (raw_id);
CREATE TABLE audit_log (
  id text PRIMARY KEY,
  at bigint NOT NULL,
  action text NOT NULL,
  subject text,
  counts jsonb NOT NULL,
  actor text NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'rate buckets',
    // rate_per_s shared by every node (rate.ts); times are the database's clock, in epoch milliseconds
    sql: `
CREATE TABLE rate_buckets (
  destination text PRIMARY KEY,
  tokens double precision NOT NULL,
  refilled_at bigint NOT NULL,
  last_grant double precision NOT NULL
);
`,
  },
  {
    version: 4,
    name: 'claim per destination',
    // claims read each destination's due work in index order (deliveries.ts). The (due_at, destination)
    // indexes cannot return rows in due_at order for `destination = ANY(…)`, so with stale statistics the
    // planner sorted the whole backlog on every claim (26 ms at 60,000 pending rows, spilling to disk,
    // instead of 2 ms). The old indexes stayed for nextDue's MIN over all destinations until version 6.
    sql: `
CREATE INDEX deliveries_due_by_destination ON deliveries (destination, due_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease_by_destination ON deliveries (destination, lease_until) WHERE status = 'in_flight';
`,
  },
  {
    version: 5,
    name: 'one-statement ingest',
    // ingest.ts (ingestInOne) writes a batch of plain events as one statement and calls this last: when
    // a dedup key or signal id was already taken, the results it planned are wrong, so the statement must
    // write nothing (SQLSTATE CL409) and the batch is written again statement by statement
    sql: `
CREATE FUNCTION closeloop_settle_ingest(events_written bigint, events_planned integer, signals_written bigint,
  signals_planned integer, wake_channel text, wake_payload text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF events_written <> events_planned OR signals_written <> signals_planned THEN
    RAISE EXCEPTION 'a dedup key or signal id was already taken' USING ERRCODE = 'CL409';
  END IF;
  IF wake_payload IS NOT NULL THEN
    PERFORM pg_notify(wake_channel, wake_payload);
  END IF;
END $$;
`,
  },
  {
    version: 6,
    name: 'due and lease indexes per destination only',
    // claims and nextDue read each destination's earliest row from the per-destination indexes (version 4),
    // so the global ones only cost a WAL record on every delivery written into or out of them. A node of an
    // older build still running during an upgrade reads its nextDue without them: slower, still correct
    sql: `
DROP INDEX IF EXISTS deliveries_due;
DROP INDEX IF EXISTS deliveries_lease;
`,
  },
  {
    version: 7,
    name: 'match keys',
    // what a delivered payload carried to match on, comma-separated ('' = nothing); see the SQLite migration
    sql: 'ALTER TABLE deliveries ADD COLUMN match_keys text;',
  },
]

/** Advisory lock key for migrations: arbitrary ('clmg'), fixed, unlikely to collide with another app's. */
export const MIGRATION_LOCK: readonly [number, number] = [0x636c6d67, 1]

/** Versions recorded in `schema_migrations`; none on a database without it (nothing is created here). */
async function appliedVersions(client: pg.ClientBase): Promise<Set<number>> {
  const [{ exists }] = (
    await client.query<{ exists: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS exists")
  ).rows
  if (!exists) return new Set()
  const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations')
  return new Set(rows.map((r) => Number(r.version)))
}

/** `version name` of each migration not applied yet; all of them on a database without `schema_migrations`. */
export async function pendingMigrations(client: pg.ClientBase): Promise<string[]> {
  return pendingNames(PG_MIGRATIONS, await appliedVersions(client))
}

export async function runMigrations(client: pg.ClientBase): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1, $2)', [...MIGRATION_LOCK])
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
    )
    const done = await appliedVersions(client)
    for (const m of PG_MIGRATIONS) {
      if (done.has(m.version)) continue
      await client.query('BEGIN')
      try {
        await client.query(m.sql)
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          m.version,
          m.name,
          Date.now(),
        ])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK')
        throw err
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK])
  }
}
