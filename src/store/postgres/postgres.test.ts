/**
 * What only the PostgreSQL store has: several nodes on one database (dedup and journeys across nodes),
 * group commit sharing transactions, LISTEN/NOTIFY wake-ups, and behaviour under database faults
 * (terminated backends, an unreachable server, statement timeouts). Real server, throwaway database.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { createTestDatabase, type TestDatabase, terminateBackends } from '../../../test/helpers/postgres.ts'
import type { EcapiEvent } from '../../model/ecapi.ts'
import { GRANTED } from '../../model/identity.ts'
import type { Signal } from '../../model/signal.ts'
import { newId } from '../ids.ts'
import type { DeriveContext, IngestItem, IngestRequest } from '../types.ts'
import { isStoreUnavailable, openPostgresStore, type PostgresStore } from './index.ts'
import { JOURNEY_LOCK_CLASS } from './ingest.ts'

const T0 = Date.now()
const uid = (p: string) => `${p}-${randomBytes(5).toString('hex')}`

const ecapi = (extra: Partial<EcapiEvent> = {}): EcapiEvent => ({
  data_set_id: 'acme',
  id: uid('ev'),
  timestamp: Math.floor(T0 / 1000),
  event_type: 'purchase',
  ...extra,
})

const signal = (ctx: DeriveContext): Signal => ({
  id: uid('sig'),
  name: 'purchase',
  eventId: ctx.eventId,
  dataSetId: 'acme',
  occurredAt: Math.floor(T0 / 1000),
  event: ecapi(),
  consent: GRANTED,
  attrs: {},
  causes: [ctx.rawId],
  createdAt: T0,
})

function req(items: IngestItem[], lease?: IngestRequest['lease']): IngestRequest {
  return {
    raw: { id: newId('raw'), source: 'ecapi', kind: 'events', receivedAt: T0, headers: {}, body: '' },
    items,
    lease,
  }
}

const to = (destinations: string[], extra: Partial<IngestItem> = {}): IngestItem => ({
  event: ecapi(),
  derive: (ctx) => ({ signals: [{ signal: signal(ctx), destinations }] }),
  ...extra,
})

/** Resolves with the first wake call matching `pred`, or rejects after `ms`. */
function nextWake(store: PostgresStore, pred: (d: string[]) => boolean, ms = 3000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error('no wake-up'))
    }, ms)
    const off = store.onWake((d) => {
      if (!pred(d)) return
      clearTimeout(timer)
      off()
      resolve(d)
    })
  })
}

describe('PostgreSQL store', () => {
  let db: TestDatabase
  let a: PostgresStore
  let b: PostgresStore

  before(async () => {
    db = await createTestDatabase()
    a = await openPostgresStore(db.url)
    b = await openPostgresStore(db.url)
    await Promise.all([a.migrate(), b.migrate()])
  })
  after(async () => {
    await a?.close()
    await b?.close()
    await db?.drop()
  })

  test('dedup across nodes: the same key ingested on two nodes at once is accepted exactly once', async () => {
    const keys = Array.from({ length: 60 }, () => uid('ecapi:acme'))
    const d = uid('d')
    const runs = keys.flatMap((k) => [
      a.ingest(req([to([d], { dedupKey: k })]), T0),
      b.ingest(req([to([d], { dedupKey: k })]), T0),
    ])
    const results = await Promise.all(runs)
    for (let i = 0; i < keys.length; i++) {
      const [x, y] = [results[2 * i].outcomes[0], results[2 * i + 1].outcomes[0]]
      assert.deepEqual([x.status, y.status].sort(), ['accepted', 'duplicate'])
      const [win, dup] = x.status === 'accepted' ? [x, y] : [y, x]
      assert.equal(dup.duplicateOf, win.eventId)
    }
    assert.equal((await a.listDeliveries({ destination: d, limit: 1000 })).length, keys.length)
  })

  test('journeys across nodes: concurrent read-derive-write on one call loses no update, from the first event', async () => {
    const key = uid('call')
    const bump = () =>
      to([], {
        journey: { key },
        derive: (ctx) => ({
          journey: { key, state: { n: Number(ctx.journey?.state.n ?? 0) + 1 } },
          signals: [],
        }),
      })
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).ingest(req([bump()]), T0)))
    let seen = 0
    await a.ingest(
      req([
        to([], {
          journey: { key },
          derive: (ctx) => {
            seen = Number(ctx.journey?.state.n)
            return { signals: [] }
          },
        }),
      ]),
      T0,
    )
    assert.equal(seen, 40)
  })

  test('rate tokens: one bucket per destination shared by every node, on the database clock', async () => {
    const d = uid('rate')
    // The bucket refills while the test runs (at 10/s, one token per 100 ms), so every bound is the burst
    // plus what the measured elapsed time can have refilled (+1 for millisecond rounding), never a fixed
    // count: a busy CI machine stretched a 20-taker race to 130 ms and refilled a token a fixed `0` did not
    // allow. Per-node buckets would grant ~20 in the race, far above the bound unless it took over a second.
    const refill = (ms: number) => Math.floor((ms * 10) / 1000) + 1
    const t0 = Date.now()
    // 20 takers on two nodes racing for a bucket of 10: the burst is granted once, not once per node
    const first = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).takeRateTokens(d, 10, 3)),
    )
    const granted = first.reduce((s, n) => s + n, 0)
    const drained = await a.takeRateTokens(d, 10, 3)
    const t1 = Date.now()
    assert.ok(granted >= 10, `granted ${JSON.stringify(first)}`)
    assert.ok(
      granted + drained <= 10 + refill(t1 - t0),
      `granted ${JSON.stringify(first)} then ${drained} in ${t1 - t0} ms`,
    )
    // refilled at 10/s whichever node asks: at least what the pause refilled, at most the refill since t0
    await new Promise((r) => setTimeout(r, 350))
    const t2 = Date.now()
    const later = (await b.takeRateTokens(d, 10, 10)) + (await a.takeRateTokens(d, 10, 10))
    const t3 = Date.now()
    assert.ok(later >= Math.min(10, Math.floor((t2 - t1) / 100)), `after ${t2 - t1} ms at 10/s: ${later}`)
    assert.ok(
      granted + drained + later <= 10 + refill(t3 - t0),
      `${granted} + ${drained} + ${later} in ${t3 - t0} ms`,
    )
    // another destination has its own bucket
    assert.equal(await a.takeRateTokens(uid('rate'), 10, 4), 4)
    // below one a second (a partner's 30 a minute) the bucket still holds a whole token: one now, none after
    const slow = uid('rate')
    assert.equal(await a.takeRateTokens(slow, 0.5, 3), 1)
    assert.equal(await b.takeRateTokens(slow, 0.5, 3), 0)
  })

  test('attempts recorded at once (shared statements) each land under their own lease', async () => {
    const d = uid('att')
    await a.ingest(req(Array.from({ length: 40 }, () => to([d]))), T0)
    const jobs = await a.claimDeliveries({
      token: 'n.1',
      now: T0,
      leaseMs: 60_000,
      limit: 40,
      destinations: [d],
    })
    assert.equal(jobs.length, 40)
    // one in ten carries a stale token (another claim took it): its attempt is logged, its state untouched
    await Promise.all(
      jobs.map((j, i) =>
        a.recordAttempts(
          [
            {
              deliveryId: j.delivery.id,
              leaseToken: i % 10 === 0 ? 'stale' : j.leaseToken,
              attempt: { deliveryId: j.delivery.id, n: 1, startedAt: T0, outcome: 'delivered' },
              next: { status: 'delivered', attempts: 1, dueAt: T0 },
            },
          ],
          T0 + 1,
        ),
      ),
    )
    const rows = await a.listDeliveries({ destination: d, limit: 100 })
    assert.equal(rows.filter((r) => r.status === 'delivered').length, 36)
    assert.equal(rows.filter((r) => r.status === 'in_flight').length, 4)
  })

  test('attempt records commit on connections of their own that skip the WAL flush, unless made durable', async () => {
    const other = new pg.Client({ connectionString: db.url })
    await other.connect()
    const sessions = async (app: string) =>
      Number(
        (
          await other.query<{ n: string }>(
            'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2',
            [db.name, app],
          )
        ).rows[0].n,
      )
    // ingest, claim and record one delivery on `s`
    const deliver = async (s: PostgresStore) => {
      const d = uid('rec')
      await s.ingest(req([to([d])]), T0)
      const [job] = await s.claimDeliveries({
        token: uid('n'),
        now: T0,
        leaseMs: 60_000,
        limit: 1,
        destinations: [d],
      })
      await s.recordAttempts(
        [
          {
            deliveryId: job.delivery.id,
            leaseToken: job.leaseToken,
            attempt: { deliveryId: job.delivery.id, n: 1, startedAt: T0, outcome: 'delivered' },
            next: { status: 'delivered', attempts: 1, dueAt: T0 },
          },
        ],
        T0 + 1,
      )
      return (await s.listDeliveries({ destination: d, limit: 1 }))[0].status
    }
    const fresh = await openPostgresStore(db.url)
    const durable = await openPostgresStore(db.url, { durableAttemptRecords: true })
    try {
      const before = await sessions('closeloop attempts')
      assert.equal(await deliver(fresh), 'delivered')
      assert.equal(await sessions('closeloop attempts'), before + 1)
      assert.equal(await deliver(durable), 'delivered')
      assert.equal(
        await sessions('closeloop attempts'),
        before + 1,
        'the durable store records on its main pool',
      )
    } finally {
      await fresh.close()
      await durable.close()
      await other.end()
    }
  })

  test('leases are on the database clock: a node whose clock runs 5 s slow keeps its leases', async () => {
    const slowClock = () => Date.now() - 5_000
    const slow = await openPostgresStore(db.url, { clock: slowClock })
    try {
      const [hot, swept] = [uid('hot'), uid('swept')]
      // a lease taken at ingest, and one taken by a claim, both for 3 s by the slow node's clock
      const r = await slow.ingest(
        req([to([hot]), to([swept])], {
          token: 'slow.1',
          untilMs: slowClock() + 3_000,
          destinations: new Set([hot]),
        }),
        slowClock(),
      )
      assert.equal(r.leased.length, 1)
      const claimed = await slow.claimDeliveries({
        token: 'slow.2',
        now: slowClock(),
        leaseMs: 3_000,
        limit: 5,
        destinations: [swept],
      })
      assert.equal(claimed.length, 1)
      // by node clocks both leases ended 2 s ago; on the server's clock they have 3 s to run
      const early = await b.claimDeliveries({
        token: 'b.1',
        now: Date.now(),
        leaseMs: 60_000,
        limit: 5,
        destinations: [hot, swept],
      })
      assert.deepEqual(early, [])
      // once they have really run out, another node takes them
      const later = await b.claimDeliveries({
        token: 'b.2',
        now: Date.now() + 3_100,
        leaseMs: 60_000,
        limit: 5,
        destinations: [hot, swept],
      })
      assert.equal(later.length, 2)
    } finally {
      await slow.close()
    }
  })

  test('single-event requests of one group commit are written together; a bad one still fails alone', async () => {
    const d = uid('merge')
    const key = uid('key')
    // requests arriving together are written as one: one accepted and one duplicate for a shared key
    const before = a.groupCommitStats().merged
    const together = await Promise.all([
      ...Array.from({ length: 30 }, () => a.ingest(req([to([d])]), T0)),
      a.ingest(req([to([d], { dedupKey: key })]), T0),
      a.ingest(req([to([d], { dedupKey: key })]), T0),
    ])
    assert.ok(a.groupCommitStats().merged > before, 'requests were written merged')
    const statuses = together.flatMap((r) => r.outcomes.map((o) => o.status))
    assert.equal(statuses.filter((s) => s === 'duplicate').length, 1)
    assert.equal((await a.listDeliveries({ destination: d, limit: 100 })).length, 31)
    // a request whose derive throws fails alone: the batch is written again one request at a time
    const boom = to([d], {
      derive: () => {
        throw new Error('derive failed')
      },
    })
    const settled = await Promise.allSettled([
      ...Array.from({ length: 10 }, () => a.ingest(req([to([d])]), T0)),
      a.ingest(req([boom]), T0),
    ])
    assert.deepEqual(
      settled.map((r) => r.status),
      [...Array.from({ length: 10 }, () => 'fulfilled'), 'rejected'],
    )
    assert.equal((await a.listDeliveries({ destination: d, limit: 100 })).length, 41)
  })

  test('plain events go in one statement; a key or signal id already taken is written the careful way', async () => {
    const d = uid('one')
    const statuses = (o: Array<{ status: string }>) => o.map((x) => x.status)
    const keyed = (key: string, extra: Partial<IngestItem> = {}): IngestRequest => ({
      ...req([to([d], { dedupKey: key, ...extra })]),
      result: statuses,
    })
    const inOne = () => a.groupCommitStats().alone
    const before = inOne()
    const key = uid('key')
    const sent = [keyed(key), keyed(key)]
    const first = await a.ingest(sent[0], T0)
    assert.equal(inOne(), before + 1)
    assert.deepEqual((await a.trace(first.outcomes[0].eventId))?.raw?.result, ['accepted'])
    const [sig] = first.outcomes[0].signals
    // the key again: the one statement writes nothing, then the duplicate and its raw result are recorded
    const again = await a.ingest(sent[1], T0)
    assert.equal(inOne(), before + 1)
    assert.equal(again.outcomes[0].status, 'duplicate')
    assert.equal(again.outcomes[0].duplicateOf, first.outcomes[0].eventId)
    assert.deepEqual((await a.trace(again.outcomes[0].eventId))?.raw?.result, ['duplicate'])
    // a new key whose signal exists already (derived again): accepted, but no second signal or delivery
    sent.push(
      keyed(uid('key'), {
        derive: (ctx) => ({ signals: [{ signal: { ...signal(ctx), id: sig.id }, destinations: [d] }] }),
      }),
    )
    const rederived = await a.ingest(sent[2], T0)
    assert.equal(inOne(), before + 1)
    assert.equal(rederived.outcomes[0].status, 'accepted')
    assert.deepEqual(rederived.outcomes[0].signals, [])
    assert.equal((await a.listDeliveries({ destination: d, limit: 10 })).length, 1)
    // nothing the refused statements planned was left behind: one event and one raw input per request
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    try {
      const raws = sent.map((r) => r.raw.id)
      const { rows } = await c.query<{ events: number; raws: number }>(
        `SELECT (SELECT count(*)::int FROM events WHERE raw_id = ANY($1)) AS events,
           (SELECT count(*)::int FROM raw_inputs WHERE id = ANY($1)) AS raws`,
        [raws],
      )
      assert.deepEqual(rows[0], { events: 3, raws: 3 })
    } finally {
      await c.end()
    }
  })

  test('group commit: concurrent ingests share transactions', async () => {
    const before = a.groupCommitStats()
    const n = 200
    await Promise.all(Array.from({ length: n }, () => a.ingest(req([to([uid('d')])]), T0)))
    const after = a.groupCommitStats()
    assert.equal(after.operations - before.operations, n)
    const txs = after.transactions - before.transactions
    assert.ok(txs < n / 4, `${txs} transactions for ${n} ingests`)
  })

  test('wake-up: another node hears about new pending deliveries; a node does not hear itself', async () => {
    const d = uid('d')
    const own: string[][] = []
    const offOwn = a.onWake((x) => {
      if (x.includes(d)) own.push(x)
    })
    // the listener connects lazily: wait for its "anything may have changed" hello before sending
    await nextWake(b, (x) => x.length === 0)
    const heard = nextWake(b, (x) => x.includes(d))
    const r = await a.ingest(
      req([to([d, 'leased-dest'])], {
        token: 't',
        untilMs: T0 + 1000,
        destinations: new Set(['leased-dest']),
      }),
      T0,
    )
    assert.deepEqual(r.pendingDestinations, [d])
    assert.deepEqual(await heard, [d])
    // releasing leases and replays wake others too
    const dl = uid('dl')
    await a.ingest(req([to([dl])], { token: 'mine', untilMs: T0 + 60_000, destinations: new Set([dl]) }), T0)
    const [row] = await a.listDeliveries({ destination: dl, limit: 1 })
    const heard2 = nextWake(b, (x) => x.includes(dl))
    await a.releaseLeases([{ deliveryId: row.id, token: 'mine' }], T0)
    await heard2
    await new Promise((r) => setTimeout(r, 100))
    offOwn()
    assert.deepEqual(own, [])
  })

  test('a deadlock with another session re-runs the request; the client sees it accepted', async () => {
    const other = new pg.Client({ connectionString: db.url })
    await other.connect()
    try {
      // two journey names, ordered as the store orders its lock acquisitions (by hash)
      let [j1, j2] = [uid('call'), uid('phone')]
      const h = await other.query<{ a: number; b: number }>('SELECT hashtext($1) AS a, hashtext($2) AS b', [
        j1,
        j2,
      ])
      if (h.rows[0].a > h.rows[0].b) [j1, j2] = [j2, j1]
      await other.query('BEGIN')
      await other.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [JOURNEY_LOCK_CLASS, j2])
      // the store takes j1, then waits for j2 …
      const ingest = a.ingest(req([to([], { journey: { key: j1, aliases: [j2] } })]), T0)
      await new Promise((r) => setTimeout(r, 200))
      // … while the other session now waits for j1: a cycle, PostgreSQL aborts one side after deadlock_timeout
      const theirs = other
        .query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [JOURNEY_LOCK_CLASS, j1])
        .then(
          () => 'locked',
          (err: { code?: string }) => err.code,
        )
      const outcome = await Promise.race([
        theirs,
        new Promise((r) => setTimeout(() => r('still waiting'), 3000)),
      ])
      // whichever side PostgreSQL picked, the other session gives its locks back now
      await other.query('ROLLBACK').catch(() => undefined)
      const r = await ingest
      assert.equal(r.outcomes[0].status, 'accepted')
      assert.ok(outcome === 'locked' || outcome === '40P01', String(outcome))
    } finally {
      await other.end()
    }
  })

  test('a statement stuck on a lock times out as E_STORE_UNAVAILABLE, failing only its own request', async () => {
    const s = await openPostgresStore(db.url, { statementTimeoutMs: 300 })
    const key = uid('call')
    // another session holds the journey's lock (the same advisory key ingest takes)
    const holder = new pg.Client({ connectionString: db.url })
    await holder.connect()
    try {
      await holder.query('BEGIN')
      await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [JOURNEY_LOCK_CLASS, key])
      const t = Date.now()
      const stuck = s.ingest(req([to([], { journey: { key } })]), T0)
      const fine = s.ingest(req([to([uid('d')])]), T0)
      await assert.rejects(stuck, (err) => isStoreUnavailable(err))
      assert.ok(Date.now() - t < 2000)
      assert.equal((await fine).outcomes[0].status, 'accepted')
    } finally {
      await holder.query('ROLLBACK')
      await holder.end()
      await s.close()
    }
  })

  test('terminated backends: calls fail as E_STORE_UNAVAILABLE or succeed, and the pool heals by itself', async () => {
    const s = await openPostgresStore(db.url)
    try {
      await s.ping()
      const hello = nextWake(s, (x) => x.length === 0)
      await hello
      const d = uid('d')
      // steady load in flight while every backend of the database is killed
      let stop = false
      const outcomes: Array<PromiseSettledResult<unknown>> = []
      const load = (async () => {
        while (!stop)
          outcomes.push(
            ...(await Promise.allSettled(Array.from({ length: 10 }, () => s.ingest(req([to([d])]), T0)))),
          )
      })()
      await new Promise((r) => setTimeout(r, 30))
      const reconnected = nextWake(s, (x) => x.length === 0, 5000)
      // a kill can land between two transactions (an idle connection is simply replaced): kill again
      // until one has hit work in flight
      for (let i = 0; i < 20 && !outcomes.some((r) => r.status === 'rejected'); i++) {
        await terminateBackends(db.name)
        await new Promise((r) => setTimeout(r, 50))
      }
      stop = true
      await load
      const failed = outcomes.filter((r) => r.status === 'rejected')
      for (const r of failed) assert.ok(isStoreUnavailable(r.reason), String(r.reason))
      assert.ok(failed.length > 0, 'the kill hit work in flight')
      // the listener reconnects and says "anything may have changed"
      await reconnected
      // and new work goes through on fresh connections
      const r = await s.ingest(req([to([d])]), T0)
      assert.equal(r.outcomes[0].status, 'accepted')
      await s.ping()
      const ok = outcomes.length - failed.length
      // a COMMIT that landed but whose answer was lost counts as failed here (the client would retry as a duplicate)
      assert.ok((await s.listDeliveries({ destination: d, limit: 10_000 })).length >= ok + 1)
    } finally {
      await s.close()
      // the shared stores' pooled connections were killed too: make sure they heal before the next test
      await a.ping().catch(() => a.ping())
      await b.ping().catch(() => b.ping())
    }
  })

  test('an unreachable server rejects promptly with E_STORE_UNAVAILABLE', async () => {
    // port 1 on loopback: nothing listens there, the connect is refused at once
    const s = await openPostgresStore('postgres://postgres@127.0.0.1:1/none')
    try {
      const t = Date.now()
      await assert.rejects(s.ingest(req([to(['x'])]), T0), (err) => isStoreUnavailable(err))
      await assert.rejects(
        s.claimDeliveries({ token: 't', now: T0, leaseMs: 1, limit: 1, destinations: ['x'] }),
        (err) => isStoreUnavailable(err),
      )
      await assert.rejects(s.ping(), (err) => isStoreUnavailable(err))
      await assert.rejects(s.migrate(), (err) => isStoreUnavailable(err))
      const e = await s.trace('evt_x').catch((err: unknown) => err)
      assert.equal((e as { code?: string }).code, 'E_STORE_UNAVAILABLE')
      assert.equal((e as { status?: number }).status, 503)
      assert.ok(Date.now() - t < 3000)
    } finally {
      await s.close()
    }
  })

  test('text PostgreSQL cannot hold (NUL, an unpaired surrogate) is stored as U+FFFD instead of failing the request', async () => {
    const key = `ecapi:acme:nul\u0000${uid('k')}`
    const ev = ecapi({
      id: 'a\u0000b',
      custom_event: 'back\\u0000slash',
      properties: { ext: { lone: 'x\ud800y', pair: '🙂', tail: 'z\udfff', escaped: 'back\\ud800slash' } },
    })
    const r = await a.ingest(
      {
        ...req([to([], { event: ev, dedupKey: key })]),
        raw: { ...req([]).raw, body: 'x\u0000y', headers: {} },
      },
      T0,
    )
    const t = await a.trace(r.outcomes[0].eventId)
    assert.equal(t?.event.event.id, 'a\uFFFDb')
    // a literal backslash-u-0000 in the text is not a NUL and survives unchanged
    assert.equal(t.event.event.custom_event, 'back\\u0000slash')
    assert.equal(t.raw?.body, 'x\uFFFDy')
    // jsonb refuses an unpaired surrogate escape; a pair is stored as it came
    assert.deepEqual(t.event.event.properties?.ext, {
      lone: 'x\uFFFDy',
      pair: '🙂',
      tail: 'z\uFFFD',
      escaped: 'back\\ud800slash',
    })
  })
})

describe('PostgreSQL counts of large tables', () => {
  test('exact while tables are small or never analyzed; past the limit, estimates that follow growth, named as such', async () => {
    const own = await createTestDatabase()
    const store = await openPostgresStore(own.url, { exactCountLimit: 1_000 })
    const c = new pg.Client({ connectionString: own.url })
    try {
      await store.migrate()
      await c.connect()
      // this test decides when the tables are analyzed (a fresh server runs autovacuum, which would too)
      for (const t of ['events', 'signals', 'deliveries'])
        await c.query(`ALTER TABLE ${t} SET (autovacuum_enabled = false)`)
      const fill = async (from: number, to: number) => {
        await c.query(
          `INSERT INTO events (id, raw_id, dedup_key, status, data_set_id, event_type, occurred_at, body, created_at)
           SELECT 'evt_' || g, 'raw_' || g, 'k' || g, 'accepted', 'ds', 'contact', 1, '{}', 1 FROM generate_series($1::int, $2::int) g`,
          [from, to],
        )
        await c.query(
          `INSERT INTO signals (id, event_id, name, data_set_id, occurred_at, body, created_at)
           SELECT 'sig_' || g, 'evt_' || g, 'contact', 'ds', 1, '{}', 1 FROM generate_series($1::int, $2::int) g`,
          [from, to],
        )
        // every 1,000th pending, in flight, dead or skipped; the rest delivered
        await c.query(
          `INSERT INTO deliveries (id, signal_id, destination, status, due_at, lease_until, idempotency_key, created_at, updated_at)
           SELECT 'dlv_' || g, 'sig_' || g, 'pb',
             CASE g % 1000 WHEN 1 THEN 'pending' WHEN 2 THEN 'in_flight' WHEN 3 THEN 'dead' WHEN 4 THEN 'skipped' ELSE 'delivered' END,
             1, CASE WHEN g % 1000 = 2 THEN 1 END, 'sig_' || g, 1, 1
           FROM generate_series($1::int, $2::int) g`,
          [from, to],
        )
      }
      await fill(1, 20_000)
      // never analyzed: the planner knows nothing, so everything is counted
      assert.deepEqual(await store.counts(), {
        deliveries: { pending: 20, in_flight: 20, dead: 20, skipped: 20, delivered: 19_920 },
        events: 20_000,
        signals: 20_000,
      })
      for (const t of ['events', 'signals', 'deliveries']) await c.query(`ANALYZE ${t}`)
      const analyzed = await store.counts()
      assert.deepEqual(analyzed.approximate, ['deliveries.delivered', 'events', 'signals'])
      // what an operator acts on stays exact
      assert.deepEqual(
        { ...analyzed.deliveries, delivered: 0 },
        { pending: 20, in_flight: 20, dead: 20, skipped: 20, delivered: 0 },
      )
      const near = (got: number, want: number) =>
        assert.ok(Math.abs(got - want) <= want * 0.1, `${got} for ${want}`)
      near(analyzed.events, 20_000)
      near(analyzed.signals, 20_000)
      near(analyzed.deliveries.delivered, 19_920)
      // grown since the last ANALYZE: the estimate scales with the table's pages
      await fill(20_001, 40_000)
      const grown = await store.counts()
      near(grown.events, 40_000)
      near(grown.deliveries.delivered, 39_840)
      assert.equal(grown.deliveries.dead, 40)
    } finally {
      await c.end()
      await store.close()
      await own.drop()
    }
  })
})
