/**
 * Versioned SQLite migrations. Append only: a released migration is never edited.
 */
import type { Migration } from '../migrations.ts'

export const SQLITE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'spine',
    sql: `
CREATE TABLE raw_inputs (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  kind TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  content_type TEXT,
  headers TEXT NOT NULL,
  body TEXT NOT NULL,
  status INTEGER,
  result TEXT
);
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  raw_id TEXT NOT NULL,
  dedup_key TEXT UNIQUE,
  status TEXT NOT NULL,
  duplicate_of TEXT,
  data_set_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  call_id TEXT,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX events_call ON events (call_id) WHERE call_id IS NOT NULL;
CREATE TABLE signals (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  name TEXT NOT NULL,
  data_set_id TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  value REAL,
  currency TEXT,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX signals_event ON signals (event_id);
CREATE TABLE deliveries (
  id TEXT PRIMARY KEY,
  signal_id TEXT NOT NULL,
  destination TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  due_at INTEGER NOT NULL,
  lease_token TEXT,
  lease_until INTEGER,
  idempotency_key TEXT NOT NULL,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (signal_id, destination)
);
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'in_flight';
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE TABLE attempts (
  id TEXT PRIMARY KEY,
  delivery_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  code TEXT,
  message TEXT,
  exchange TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);
CREATE TABLE timers (
  id TEXT PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  due_at INTEGER NOT NULL,
  payload TEXT NOT NULL,
  lease_token TEXT,
  lease_until INTEGER
);
CREATE INDEX timers_due ON timers (due_at);
CREATE TABLE journeys (
  key TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE journey_aliases (
  alias TEXT PRIMARY KEY,
  journey_key TEXT NOT NULL
);
CREATE TABLE facts (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE destination_state (
  name TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'privacy',
    // retention marks each scrubbed row (scrubbed_at) so it is processed once; the partial indexes hold only
    // rows still to scrub (about raw_pii_days of data), so finding them never scans history
    sql: `
ALTER TABLE raw_inputs ADD COLUMN scrubbed_at INTEGER;
ALTER TABLE events ADD COLUMN scrubbed_at INTEGER;
ALTER TABLE signals ADD COLUMN scrubbed_at INTEGER;
ALTER TABLE attempts ADD COLUMN scrubbed_at INTEGER;
ALTER TABLE journeys ADD COLUMN scrubbed_at INTEGER;
ALTER TABLE facts ADD COLUMN scrubbed_at INTEGER;
ALTER TABLE facts ADD COLUMN written_at INTEGER;
-- facts carry no write time of their own: the database stamps one on every write, whoever writes
UPDATE facts SET written_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
CREATE TRIGGER facts_written AFTER INSERT ON facts BEGIN
  UPDATE facts SET written_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE key = NEW.key;
END;
CREATE INDEX raw_inputs_unscrubbed ON raw_inputs (received_at) WHERE scrubbed_at IS NULL;
CREATE INDEX events_unscrubbed ON events (created_at) WHERE scrubbed_at IS NULL;
CREATE INDEX signals_unscrubbed ON signals (created_at) WHERE scrubbed_at IS NULL;
CREATE INDEX attempts_unscrubbed ON attempts (started_at) WHERE scrubbed_at IS NULL;
CREATE INDEX journeys_unscrubbed ON journeys (updated_at) WHERE scrubbed_at IS NULL OR scrubbed_at < updated_at;
CREATE INDEX facts_unscrubbed ON facts (written_at) WHERE scrubbed_at IS NULL;
-- a raw body is scrubbed knowing the canonical events read from it (the caller in E.164 finds any format)
CREATE INDEX events_raw ON events (raw_id);
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  action TEXT NOT NULL,
  subject TEXT,
  counts TEXT NOT NULL,
  actor TEXT NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'match keys',
    // what a delivered payload carried to match on, comma-separated ('' = nothing): the match rate
    // (observe/match-rate.ts) is read from the deliveries themselves, so no hot-path write is added
    sql: 'ALTER TABLE deliveries ADD COLUMN match_keys TEXT;',
  },
]
