/**
 * The Store contract: one suite, run against SQLite (a temp file) and PostgreSQL (a throwaway database on
 * the local server). Real databases, real timers, no mocks. PostgreSQL must be reachable: CI guarantees a
 * server, so its half fails loudly instead of skipping.
 *
 * Tests share one database per store kind and isolate themselves with unique destination names and keys;
 * the few that need an empty database (`nextDue`, counts, concurrent migrate) open a fresh one.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.ts'
import { signalConsent } from '../identity/consent.ts'
import type { EcapiEvent } from '../model/ecapi.ts'
import { GRANTED } from '../model/identity.ts'
import type { Signal } from '../model/signal.ts'
import { newId } from './ids.ts'
import { openPostgresStore } from './postgres/index.ts'
import { openSqliteStore } from './sqlite/index.ts'
import type {
  DeriveContext,
  Derived,
  IngestItem,
  IngestRequest,
  LeasedJob,
  RawInput,
  SignalDraft,
  Store,
  TimerJob,
} from './types.ts'

interface Harness {
  kind: 'sqlite' | 'postgres'
  setup(): Promise<void>
  /** The shared store (migrated). */
  store(): Store
  /** Another store instance on the same database: a second node. */
  second(): Promise<Store>
  /** Two store instances (two nodes) on a brand-new, empty database (not migrated); removed at teardown. */
  fresh(): Promise<[Store, Store]>
  teardown(): Promise<void>
}

function sqliteHarness(): Harness {
  let dir = ''
  let main: Store
  const extra: Store[] = []
  return {
    kind: 'sqlite',
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'closeloop-contract-'))
      main = openSqliteStore(join(dir, 'main.db'))
      await main.migrate()
    },
    store: () => main,
    async second() {
      const s = openSqliteStore(join(dir, 'main.db'))
      extra.push(s)
      return s
    },
    async fresh() {
      const file = join(dir, `${randomBytes(4).toString('hex')}.db`)
      const pair: [Store, Store] = [openSqliteStore(file), openSqliteStore(file)]
      extra.push(...pair)
      return pair
    },
    async teardown() {
      for (const s of extra) await s.close()
      await main?.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function postgresHarness(): Harness {
  let db: TestDatabase
  let main: Store
  const extra: Store[] = []
  const dbs: TestDatabase[] = []
  return {
    kind: 'postgres',
    async setup() {
      db = await createTestDatabase()
      main = await openPostgresStore(db.url)
      await main.migrate()
    },
    store: () => main,
    async second() {
      const s = await openPostgresStore(db.url)
      extra.push(s)
      return s
    },
    async fresh() {
      const d = await createTestDatabase()
      dbs.push(d)
      const pair: [Store, Store] = [await openPostgresStore(d.url), await openPostgresStore(d.url)]
      extra.push(...pair)
      return pair
    },
    async teardown() {
      for (const s of extra) await s.close()
      await main?.close()
      for (const d of dbs) await d.drop()
      await db?.drop()
    },
  }
}

// ---- fixtures ----

const T0 = Date.now()
const uid = (p = 'x') => `${p}-${randomBytes(5).toString('hex')}`

function raw(extra: Partial<RawInput> = {}): RawInput {
  return {
    id: newId('raw', T0),
    source: 'ecapi',
    kind: 'events',
    receivedAt: T0,
    contentType: 'application/json',
    headers: { 'content-type': 'application/json' },
    body: '{"events":[]}',
    ...extra,
  }
}

function ecapi(id = uid('ev'), extra: Partial<EcapiEvent> = {}): EcapiEvent {
  return { data_set_id: 'acme', id, timestamp: Math.floor(T0 / 1000), event_type: 'purchase', ...extra }
}

function signal(ctx: { eventId: string; rawId: string }, id = uid('sig'), name = 'purchase'): Signal {
  return {
    id,
    name,
    eventId: ctx.eventId,
    dataSetId: 'acme',
    occurredAt: Math.floor(T0 / 1000),
    value: 12.5,
    currency: 'USD',
    event: ecapi('snap'),
    consent: GRANTED,
    attrs: { rule: 'test' },
    causes: [ctx.rawId],
    createdAt: T0,
  }
}

/** An item deriving one signal to `destinations` (or whatever `derive` says). */
function item(opts: {
  dedupKey?: string
  destinations?: string[]
  signalId?: string
  derive?: (ctx: DeriveContext) => Derived
  journey?: IngestItem['journey']
  facts?: string[]
  event?: EcapiEvent
}): IngestItem {
  return {
    event: opts.event ?? ecapi(),
    dedupKey: opts.dedupKey,
    journey: opts.journey,
    facts: opts.facts,
    derive:
      opts.derive ??
      ((ctx) => ({
        signals: opts.destinations
          ? [{ signal: signal(ctx, opts.signalId), destinations: opts.destinations } satisfies SignalDraft]
          : [],
      })),
  }
}

function req(items: IngestItem[], extra: Partial<IngestRequest> = {}): IngestRequest {
  return { raw: raw(), items, ...extra }
}

const lease = (token: string, destinations: string[], untilMs = T0 + 30_000): IngestRequest['lease'] => ({
  token,
  untilMs,
  destinations: new Set(destinations),
})

/** Creates `n` pending deliveries to `dest`, due at T0. */
async function pendingTo(store: Store, dest: string, n = 1): Promise<string[]> {
  const items = Array.from({ length: n }, () => item({ destinations: [dest] }))
  await store.ingest(req(items), T0)
  const rows = await store.listDeliveries({ destination: dest, limit: 10_000 })
  return rows.map((d) => d.id)
}

const attemptRec = (job: LeasedJob, next: 'delivered' | 'pending' | 'dead', dueAt = T0, token?: string) => ({
  deliveryId: job.delivery.id,
  leaseToken: token ?? job.leaseToken,
  attempt: {
    deliveryId: job.delivery.id,
    n: job.delivery.attempts + 1,
    startedAt: T0,
    outcome: next === 'delivered' ? ('delivered' as const) : ('retry' as const),
    code: next === 'delivered' ? undefined : 'HTTP_500',
    exchange: { method: 'POST', url: 'https://x.test/', headers: {}, status: 500, latencyMs: 3 },
  },
  next: {
    status: next,
    dueAt,
    attempts: job.delivery.attempts + 1,
    lastError: next === 'delivered' ? undefined : 'boom',
  },
})

// ---- the suite ----

for (const h of [sqliteHarness(), postgresHarness()]) {
  describe(`Store contract: ${h.kind}`, () => {
    before(() => h.setup())
    after(() => h.teardown())

    test('migrate is idempotent, also when two nodes run it at once; pending migrations are listed until then', async () => {
      await h.store().migrate()
      await h.store().migrate()
      const [a, b] = await h.fresh()
      const pending = await a.pendingMigrations()
      assert.ok(pending.length >= 2, pending.join(', '))
      assert.match(pending[0], /^1 /)
      await Promise.all([a.migrate(), b.migrate()])
      await a.migrate()
      assert.deepEqual(await b.pendingMigrations(), [])
      const r = await a.ingest(req([item({ dedupKey: uid('k') })]), T0)
      assert.equal(r.outcomes[0].status, 'accepted')
    })

    test('ingest: accepted, duplicates in the same batch and across calls, no key = never a duplicate', async () => {
      const s = h.store()
      const key = uid('ecapi:acme')
      const dest = uid('d')
      const r1 = await s.ingest(
        req([item({ dedupKey: key, destinations: [dest] }), item({ dedupKey: key, destinations: [dest] })]),
        T0,
      )
      assert.deepEqual(
        r1.outcomes.map((o) => o.status),
        ['accepted', 'duplicate'],
      )
      assert.equal(r1.outcomes[1].duplicateOf, r1.outcomes[0].eventId)
      assert.equal(r1.outcomes[0].signals.length, 1)
      assert.deepEqual(r1.outcomes[1].signals, [])
      const r2 = await s.ingest(req([item({ dedupKey: key, destinations: [dest] })]), T0 + 1)
      assert.equal(r2.outcomes[0].status, 'duplicate')
      assert.equal(r2.outcomes[0].duplicateOf, r1.outcomes[0].eventId)
      assert.equal((await s.listDeliveries({ destination: dest, limit: 10 })).length, 1)
      const r3 = await s.ingest(req([item({}), item({})]), T0)
      assert.deepEqual(
        r3.outcomes.map((o) => o.status),
        ['accepted', 'accepted'],
      )
    })

    test('ingest stores the raw input and the result built from outcomes', async () => {
      const s = h.store()
      const r = raw({ headers: { 'x-a': '1' }, body: 'a=1&b=\u0000two', status: 202 })
      const res = await s.ingest(
        { raw: r, items: [item({ dedupKey: uid('k') })], result: (o) => ({ n: o.length, s: o[0].status }) },
        T0,
      )
      const t = await s.trace(res.outcomes[0].eventId)
      assert.ok(t?.raw)
      assert.equal(t.raw.id, r.id)
      assert.deepEqual(t.raw.headers, { 'x-a': '1' })
      assert.equal(t.raw.status, 202)
      assert.deepEqual(t.raw.result, { n: 1, s: 'accepted' })
      assert.match(t.raw.body, /^a=1&b=.two$/)
    })

    test('recordRaw stores a refused request on its own', async () => {
      const s = h.store()
      await s.recordRaw(raw({ status: 401, result: { error: 'E_AUTH_MISSING' } }))
    })

    test('derive sees the journey by key and by alias, and writes it back', async () => {
      const s = h.store()
      const key = uid('call')
      const alias = uid('phone')
      const seen: Array<DeriveContext['journey']> = []
      const step = (ref: IngestItem['journey'], n: number) =>
        item({
          journey: ref,
          derive: (ctx) => {
            seen.push(ctx.journey)
            const count = Number(ctx.journey?.state.n ?? 0) + 1
            assert.equal(count, n)
            return { journey: { key, state: { n: count }, aliases: [alias] }, signals: [] }
          },
        })
      await s.ingest(req([step({ key }, 1)]), T0)
      await s.ingest(req([step({ key }, 2)]), T0)
      await s.ingest(req([step({ aliases: [uid('nope'), alias] }, 3)]), T0)
      await s.ingest(req([step({ key: uid('other'), aliases: [alias] }, 4)]), T0)
      assert.equal(seen[0], undefined)
      assert.deepEqual(seen[1], { key, state: { n: 1 } })
      assert.deepEqual(seen[2], { key, state: { n: 2 } })
      assert.deepEqual(seen[3], { key, state: { n: 3 } })
    })

    test('legacy names are read only when no name of the journey resolves', async () => {
      const s = h.store()
      const old = uid('call')
      const oldAlias = uid('phone')
      const scoped = uid('call:acme')
      const seen: Array<string | undefined> = []
      const write = (key: string, aliases: string[]) =>
        item({ derive: () => ({ journey: { key, state: { at: key }, aliases }, signals: [] }) })
      const look = (ref: IngestItem['journey']) =>
        item({
          journey: ref,
          derive: (ctx) => {
            seen.push(ctx.journey?.key)
            return { signals: [] }
          },
        })
      await s.ingest(req([write(old, [oldAlias])]), T0)
      await s.ingest(req([look({ key: scoped, legacy: { key: old } })]), T0)
      await s.ingest(req([look({ key: scoped, legacy: { key: uid('x'), aliases: [oldAlias] } })]), T0)
      await s.ingest(req([look({ key: scoped, legacy: { aliases: [uid('x')] } })]), T0)
      // once the scoped journey exists, it wins over the legacy one
      await s.ingest(req([write(scoped, [])]), T0)
      await s.ingest(req([look({ key: scoped, legacy: { key: old } })]), T0)
      assert.deepEqual(seen, [old, old, undefined, scoped])
    })

    test('facts: written with a TTL, unseen after it, deleted by null', async () => {
      const s = h.store()
      const k = uid('fact')
      const read = async (now: number) => {
        let facts: Record<string, unknown> = {}
        await s.ingest(
          req([
            item({
              facts: [k, uid('missing')],
              derive: (ctx) => {
                facts = ctx.facts
                return { signals: [] }
              },
            }),
          ]),
          now,
        )
        return facts
      }
      await s.ingest(
        req([
          item({ derive: () => ({ facts: { [k]: { value: { gclid: 'G1' }, ttlMs: 1000 } }, signals: [] }) }),
        ]),
        T0,
      )
      assert.deepEqual(await read(T0 + 999), { [k]: { gclid: 'G1' } })
      assert.deepEqual(await read(T0 + 1000), {})
      await s.ingest(
        req([item({ derive: () => ({ facts: { [k]: { value: 2, ttlMs: 1000 } }, signals: [] }) })]),
        T0,
      )
      assert.deepEqual(await read(T0), { [k]: 2 })
      await s.ingest(req([item({ derive: () => ({ facts: { [k]: null }, signals: [] }) })]), T0)
      assert.deepEqual(await read(T0), {})
    })

    test('a fact two journeys share is read-modify-written one at a time, however many arrive together', async () => {
      // two calls from one caller: two journeys (on PostgreSQL two lanes, two open transactions) reading and
      // incrementing one repeat-caller fact; each must see the other's write
      const s = h.store()
      const k = uid('caller')
      const n = 12
      await Promise.all(
        Array.from({ length: n }, (_, i) => {
          const key = uid(`call${i}`)
          return s.ingest(
            req([
              item({
                journey: { key },
                facts: [k],
                derive: (ctx) => ({
                  journey: { key, state: { n: 1 } },
                  facts: { [k]: { value: ((ctx.facts[k] as number | undefined) ?? 0) + 1, ttlMs: 60_000 } },
                  signals: [],
                }),
              }),
            ]),
            T0,
          )
        }),
      )
      let seen: unknown
      await s.ingest(
        req([
          item({
            facts: [k],
            derive: (ctx) => {
              seen = ctx.facts[k]
              return { signals: [] }
            },
          }),
        ]),
        T0,
      )
      assert.equal(seen, n)
    })

    test('signals are idempotent by id: derived again, nothing new is delivered', async () => {
      const s = h.store()
      const dest = uid('d')
      const sid = uid('sig')
      const a = await s.ingest(req([item({ destinations: [dest], signalId: sid })]), T0)
      const b = await s.ingest(req([item({ destinations: [dest], signalId: sid })]), T0)
      assert.deepEqual(a.outcomes[0].signals, [{ id: sid, name: 'purchase' }])
      assert.equal(b.outcomes[0].status, 'accepted')
      assert.deepEqual(b.outcomes[0].signals, [])
      assert.deepEqual(b.pendingDestinations, [])
      assert.equal((await s.listDeliveries({ destination: dest, limit: 10 })).length, 1)
    })

    test('one request: a signal drafted by two items is created once, for the first; keys compete in order', async () => {
      const s = h.store()
      const dest = uid('d')
      const sid = uid('sig')
      const key = uid('key')
      const r = await s.ingest(
        req([
          item({ destinations: [dest], signalId: sid }),
          item({ destinations: [dest], signalId: sid }),
          item({ destinations: [dest], dedupKey: key }),
          item({ destinations: [dest], dedupKey: key }),
          item({ destinations: [dest] }),
        ]),
        T0,
      )
      assert.deepEqual(
        r.outcomes.map((o) => [o.status, o.signals.length]),
        [
          ['accepted', 1],
          ['accepted', 0],
          ['accepted', 1],
          ['duplicate', 0],
          ['accepted', 1],
        ],
      )
      assert.deepEqual(r.outcomes[0].signals, [{ id: sid, name: 'purchase' }])
      assert.equal(r.outcomes[3].duplicateOf, r.outcomes[2].eventId)
      assert.equal((await s.listDeliveries({ destination: dest, limit: 10 })).length, 3)
      const trace = await s.trace(r.outcomes[3].eventId)
      assert.equal(trace?.event.status, 'duplicate')
      assert.equal(trace?.event.duplicateOf, r.outcomes[2].eventId)
      assert.ok(trace?.raw, 'the raw input is stored with the request')
    })

    test('deliveries to leased destinations are in flight for the caller; the rest are pending', async () => {
      const s = h.store()
      const [fast, slow] = [uid('fast'), uid('slow')]
      const r = await s.ingest(
        req([item({ destinations: [fast, slow] })], { lease: lease('node-a', [fast]) }),
        T0,
      )
      assert.equal(r.leased.length, 1)
      const job = r.leased[0]
      assert.equal(job.delivery.destination, fast)
      assert.equal(job.delivery.status, 'in_flight')
      assert.equal(job.leaseToken, 'node-a')
      assert.equal(job.leaseUntil, T0 + 30_000)
      assert.equal(job.signal.id, job.delivery.signalId)
      assert.equal(job.delivery.idempotencyKey, job.signal.id)
      assert.deepEqual(r.pendingDestinations, [slow])
      assert.equal((await s.listDeliveries({ destination: fast, limit: 5 }))[0].status, 'in_flight')
      assert.equal((await s.listDeliveries({ destination: slow, limit: 5 }))[0].status, 'pending')
      // a leased delivery is not claimable until its lease expires
      assert.deepEqual(
        await s.claimDeliveries({ token: 'b', now: T0 + 1, leaseMs: 1000, limit: 10, destinations: [fast] }),
        [],
      )
      const late = await s.claimDeliveries({
        token: 'b',
        now: T0 + 30_000,
        leaseMs: 1000,
        limit: 10,
        destinations: [fast],
      })
      assert.equal(late.length, 1)
    })

    test('signals with consent per audience come back as derived, folded in storage or not', async () => {
      const s = h.store()
      const d = uid('d')
      const { consent, consentFor } = signalConsent(ecapi(), 'granted')
      const differing = structuredClone(consentFor)
      differing.meta = { ...differing.meta, ldu: true, reasons: [...differing.meta.reasons, 'ldu: us law'] }
      const derived: Signal[] = []
      const items = [consentFor, differing].map((cf) =>
        item({
          destinations: [d],
          derive: (ctx) => {
            const sig = { ...signal(ctx), consent, consentFor: cf }
            derived.push(sig)
            return { signals: [{ signal: sig, destinations: [d] }] }
          },
        }),
      )
      const r = await s.ingest(req(items), T0)
      const got = await s.claimDeliveries({
        token: 't',
        now: T0,
        leaseMs: 1000,
        limit: 10,
        destinations: [d],
      })
      assert.equal(got.length, 2)
      const byId = new Map(derived.map((x) => [x.id, x]))
      for (const j of got) assert.deepEqual(j.signal, byId.get(j.signal.id))
      for (const o of r.outcomes) {
        const t = await s.trace(o.eventId)
        assert.deepEqual(t?.signals, [byId.get(o.signals[0].id)])
      }
    })

    test('claim: due pending only, not-yet-due skipped, destination filter, lease set', async () => {
      const s = h.store()
      const [d1, d2] = [uid('d'), uid('d')]
      const ids = await pendingTo(s, d1, 3)
      await pendingTo(s, d2, 2)
      assert.deepEqual(
        await s.claimDeliveries({ token: 't', now: T0, leaseMs: 1000, limit: 10, destinations: [] }),
        [],
      )
      assert.deepEqual(
        await s.claimDeliveries({ token: 't', now: T0 - 1, leaseMs: 1000, limit: 10, destinations: [d1] }),
        [],
      )
      const got = await s.claimDeliveries({
        token: 't',
        now: T0,
        leaseMs: 1000,
        limit: 2,
        destinations: [d1],
      })
      assert.equal(got.length, 2)
      for (const j of got) {
        assert.ok(ids.includes(j.delivery.id))
        assert.equal(j.delivery.status, 'in_flight')
        assert.equal(j.leaseToken, 't')
        assert.equal(j.leaseUntil, T0 + 1000)
        assert.equal(j.signal.id, j.delivery.signalId)
        assert.deepEqual(j.signal.consent, GRANTED)
      }
      // one left for d1; push it into the future with a retry
      const [last] = await s.claimDeliveries({
        token: 't',
        now: T0,
        leaseMs: 1000,
        limit: 10,
        destinations: [d1],
      })
      await s.recordAttempts([attemptRec(last, 'pending', T0 + 60_000)], T0)
      assert.deepEqual(
        await s.claimDeliveries({ token: 't', now: T0 + 500, leaseMs: 1000, limit: 10, destinations: [d1] }),
        [],
      )
      const retried = await s.claimDeliveries({
        token: 'u',
        now: T0 + 60_000,
        leaseMs: 1000,
        limit: 10,
        destinations: [d1],
      })
      // the retry, plus the two whose 1 s leases expired long ago
      assert.equal(retried.length, 3)
      assert.ok(retried.some((j) => j.delivery.id === last.delivery.id && j.delivery.attempts === 1))
      const both = await s.claimDeliveries({
        token: 't',
        now: T0,
        leaseMs: 1000,
        limit: 10,
        destinations: [d2, uid('none')],
      })
      assert.equal(both.length, 2)
    })

    test('claim reclaims expired leases, including leases taken at ingest', async () => {
      const s = h.store()
      const d = uid('d')
      const r = await s.ingest(
        req([item({ destinations: [d] })], { lease: lease('dead-node', [d], T0 + 100) }),
        T0,
      )
      assert.equal(r.leased.length, 1)
      assert.deepEqual(
        await s.claimDeliveries({ token: 'live', now: T0 + 99, leaseMs: 1000, limit: 10, destinations: [d] }),
        [],
      )
      const got = await s.claimDeliveries({
        token: 'live',
        now: T0 + 100,
        leaseMs: 1000,
        limit: 10,
        destinations: [d],
      })
      assert.equal(got.length, 1)
      assert.equal(got[0].delivery.id, r.leased[0].delivery.id)
      assert.equal(got[0].leaseToken, 'live')
    })

    test('recordAttempts: the attempt is always logged, the state only under a matching lease', async () => {
      const s = h.store()
      const d = uid('d')
      const r = await s.ingest(req([item({ destinations: [d] })], { lease: lease('a', [d], T0 + 100) }), T0)
      const [mine] = await s.claimDeliveries({
        token: 'b',
        now: T0 + 200,
        leaseMs: 10_000,
        limit: 1,
        destinations: [d],
      })
      // node a wakes up late and reports on a lease it lost
      await s.recordAttempts([attemptRec(r.leased[0], 'dead')], T0 + 300)
      let [row] = await s.listDeliveries({ destination: d, limit: 1 })
      assert.equal(row.status, 'in_flight')
      assert.equal(row.attempts, 0)
      await s.recordAttempts([attemptRec(mine, 'delivered')], T0 + 400)
      ;[row] = await s.listDeliveries({ destination: d, limit: 1 })
      assert.equal(row.status, 'delivered')
      assert.equal(row.attempts, 1)
      assert.equal(row.updatedAt, T0 + 400)
      const t = await s.trace(r.outcomes[0].eventId)
      assert.equal(t?.deliveries[0].attemptLog.length, 2)
      const log = t.deliveries[0].attemptLog
      assert.equal(log[0].deliveryId, row.id)
      assert.equal(log[0].exchange?.status, 500)
      assert.deepEqual(
        await s.claimDeliveries({ token: 'c', now: T0 + 100_000, leaseMs: 1, limit: 5, destinations: [d] }),
        [],
      )
    })

    test('releaseLeases gives back only our own leases', async () => {
      const s = h.store()
      const d = uid('d')
      await pendingTo(s, d, 2)
      const got = await s.claimDeliveries({
        token: 'mine',
        now: T0,
        leaseMs: 60_000,
        limit: 2,
        destinations: [d],
      })
      await s.releaseLeases([{ deliveryId: got[0].delivery.id, token: 'not-mine' }], T0)
      assert.deepEqual(
        await s.claimDeliveries({ token: 'x', now: T0 + 1, leaseMs: 1, limit: 5, destinations: [d] }),
        [],
      )
      await s.releaseLeases([{ deliveryId: got[0].delivery.id, token: 'mine' }], T0 + 1)
      const again = await s.claimDeliveries({
        token: 'x',
        now: T0 + 1,
        leaseMs: 1,
        limit: 5,
        destinations: [d],
      })
      assert.deepEqual(
        again.map((j) => j.delivery.id),
        [got[0].delivery.id],
      )
    })

    test('renewLeases extends only leases still ours; a lease another node re-claimed is not renewed', async () => {
      const s = h.store()
      const d = uid('d')
      await pendingTo(s, d, 3)
      const got = await s.claimDeliveries({
        token: 'mine',
        now: T0,
        leaseMs: 1_000,
        limit: 3,
        destinations: [d],
      })
      const ids = got.map((j) => j.delivery.id)
      // the leases run out and another node takes one of them
      const taken = await s.claimDeliveries({
        token: 'other',
        now: T0 + 1_000,
        leaseMs: 60_000,
        limit: 1,
        destinations: [d],
      })
      assert.equal(taken.length, 1)
      const mine = ids.map((deliveryId) => ({ deliveryId, token: 'mine' }))
      const renewed = await s.renewLeases(mine, T0 + 61_000, T0 + 1_001)
      assert.deepEqual(renewed.sort(), ids.filter((id) => id !== taken[0].delivery.id).sort())
      const notMine = ids.map((deliveryId) => ({ deliveryId, token: 'not-mine' }))
      assert.deepEqual(await s.renewLeases(notMine, T0 + 99_000, T0 + 1_002), [])
      // renewed leases hold past their old end: nothing is claimable before the new one
      assert.deepEqual(
        await s.claimDeliveries({ token: 'x', now: T0 + 60_000, leaseMs: 1, limit: 5, destinations: [d] }),
        [],
      )
      const later = await s.claimDeliveries({
        token: 'x',
        now: T0 + 61_000,
        leaseMs: 1,
        limit: 5,
        destinations: [d],
      })
      assert.equal(later.length, 3)
    })

    test('timers fire once, with the journey, inside the transaction that deletes them', async () => {
      const s = h.store()
      const key = uid('call')
      const d = uid('d')
      const tkey = `qualify:${key}`
      await s.ingest(
        req([
          item({
            journey: { key },
            derive: (ctx) => ({
              journey: { key, state: { answered: true } },
              timers: [
                {
                  key: tkey,
                  kind: 'qualify',
                  dueAt: T0 + 1000,
                  payload: { journey: key, eventId: ctx.eventId, rawId: ctx.rawId },
                },
              ],
              signals: [],
            }),
          }),
        ]),
        T0,
      )
      const fired: Array<{ timer: TimerJob; ctx: DeriveContext }> = []
      const fire = (now: number) =>
        s.fireTimers({
          token: 'n1',
          now,
          limit: 100,
          journeyKey: (t) => (t.payload.journey === key ? key : undefined),
          fire(timer, ctx) {
            if (timer.payload.journey !== key) return { signals: [] }
            fired.push({ timer, ctx })
            return {
              signals: [{ signal: signal(ctx), destinations: [d] }],
              journey: { key, state: { qualified: true } },
            }
          },
          lease: lease('n1', [d]),
        })
      await fire(T0 + 999)
      assert.equal(fired.length, 0)
      const r = await fire(T0 + 1000)
      assert.equal(fired.length, 1)
      assert.ok(r.fired >= 1)
      assert.equal(r.leased.length, 1)
      assert.equal(r.leased[0].delivery.destination, d)
      const { timer, ctx } = fired[0]
      assert.equal(timer.key, tkey)
      assert.equal(timer.kind, 'qualify')
      assert.equal(timer.dueAt, T0 + 1000)
      assert.equal(timer.leaseToken, 'n1')
      assert.deepEqual(ctx.journey, { key, state: { answered: true } })
      assert.equal(ctx.eventId, timer.payload.eventId)
      assert.equal(ctx.now, T0 + 1000)
      await fire(T0 + 5000)
      assert.equal(fired.length, 1)
    })

    test('timers: re-arming by key replaces, cancel removes', async () => {
      const s = h.store()
      const key = uid('t')
      const arm = (dueAt: number, v: number) =>
        s.ingest(
          req([
            item({ derive: () => ({ timers: [{ key, kind: 'k', dueAt, payload: { v } }], signals: [] }) }),
          ]),
          T0,
        )
      await arm(T0 + 1000, 1)
      await arm(T0 + 2000, 2)
      const seen: TimerJob[] = []
      const fire = (now: number) =>
        s.fireTimers({
          token: 'n',
          now,
          limit: 1000,
          journeyKey: () => undefined,
          fire: (t) => {
            if (t.key === key) seen.push(t)
            return { signals: [] }
          },
        })
      await fire(T0 + 1500)
      assert.equal(seen.length, 0)
      await fire(T0 + 2000)
      assert.deepEqual(
        seen.map((t) => t.payload),
        [{ v: 2 }],
      )
      await arm(T0 + 3000, 3)
      await s.ingest(req([item({ derive: () => ({ cancelTimers: [key], signals: [] }) })]), T0)
      await fire(T0 + 10_000)
      assert.equal(seen.length, 1)
    })

    test('replay: dead back to pending now with attempts kept; pending unchanged; unknown undefined', async () => {
      const s = h.store()
      const d = uid('d')
      await pendingTo(s, d)
      const [job] = await s.claimDeliveries({
        token: 't',
        now: T0,
        leaseMs: 1000,
        limit: 1,
        destinations: [d],
      })
      await s.recordAttempts([attemptRec(job, 'dead')], T0 + 10)
      assert.deepEqual(
        (await s.listDeliveries({ status: 'dead', destination: d, limit: 5 })).map((x) => x.id),
        [job.delivery.id],
      )
      const back = await s.replay(job.delivery.id, T0 + 20)
      assert.equal(back?.status, 'pending')
      assert.equal(back.dueAt, T0 + 20)
      assert.equal(back.attempts, 1)
      assert.equal(back.lastError, 'boom')
      const again = await s.replay(job.delivery.id, T0 + 30)
      assert.equal(again?.status, 'pending')
      assert.equal(again.dueAt, T0 + 20)
      assert.equal(await s.replay('dlv_unknown', T0), undefined)
      const [j2] = await s.claimDeliveries({
        token: 't',
        now: T0 + 20,
        leaseMs: 1000,
        limit: 5,
        destinations: [d],
      })
      assert.equal(j2.delivery.id, job.delivery.id)
      assert.equal(j2.delivery.attempts, 1)
    })

    test('trace: event, raw, signals, deliveries with attempt logs; a duplicate shows its original', async () => {
      const s = h.store()
      const [d1, d2] = [uid('d'), uid('d')]
      const key = uid('k')
      const ev = ecapi(uid('ev'), { value: 99, ext: { call: { call_id: 'CA1' } } } as Partial<EcapiEvent>)
      const r = await s.ingest(
        req([
          item({
            dedupKey: key,
            event: ev,
            derive: (ctx) => ({
              signals: [
                { signal: signal(ctx, uid('sig'), 'call_connected'), destinations: [d1, d2] },
                { signal: signal(ctx, uid('sig'), 'qualified_call'), destinations: [d1] },
              ],
            }),
          }),
        ]),
        T0,
      )
      const t = await s.trace(r.outcomes[0].eventId)
      assert.ok(t)
      assert.equal(t.event.id, r.outcomes[0].eventId)
      assert.equal(t.event.status, 'accepted')
      assert.equal(t.event.dedupKey, key)
      assert.equal(t.event.duplicateOf, undefined)
      assert.equal(t.event.createdAt, T0)
      assert.deepEqual(t.event.event, ev)
      assert.deepEqual(t.signals.map((x) => x.name).sort(), ['call_connected', 'qualified_call'])
      assert.equal(t.signals[0].eventId, t.event.id)
      assert.equal(t.deliveries.length, 3)
      for (const dl of t.deliveries) {
        assert.deepEqual(dl.attemptLog, [])
        assert.ok(t.signals.some((x) => x.id === dl.signalId))
      }
      const dup = await s.ingest(req([item({ dedupKey: key })]), T0 + 5)
      const td = await s.trace(dup.outcomes[0].eventId)
      assert.equal(td?.event.status, 'duplicate')
      assert.equal(td.event.duplicateOf, t.event.id)
      assert.equal(td.event.dedupKey, undefined)
      assert.equal(td.signals.length, 2)
      assert.notEqual(td.raw?.id, t.raw?.id)
      assert.equal(await s.trace('evt_unknown'), undefined)
    })

    test('listDeliveries filters by status and destination and pages by id', async () => {
      const s = h.store()
      const d = uid('d')
      const ids = (await pendingTo(s, d, 5)).sort()
      const pages: string[][] = []
      let after: string | undefined
      for (;;) {
        const page = await s.listDeliveries({ destination: d, status: 'pending', limit: 2, after })
        if (page.length === 0) break
        pages.push(page.map((x) => x.id))
        after = page[page.length - 1].id
      }
      assert.deepEqual(pages, [ids.slice(0, 2), ids.slice(2, 4), ids.slice(4)])
      assert.deepEqual(await s.listDeliveries({ destination: d, status: 'dead', limit: 10 }), [])
      const all = await s.listDeliveries({ limit: 3 })
      assert.equal(all.length, 3)
    })

    test('destination state: unknown, set, overwritten', async () => {
      const s = h.store()
      const name = uid('dest')
      assert.equal(await s.getDestinationState(name), undefined)
      await s.setDestinationState(name, { paused: true, failures: 3 }, T0)
      assert.deepEqual(await s.getDestinationState(name), { paused: true, failures: 3 })
      await s.setDestinationState(name, { paused: false }, T0 + 1)
      assert.deepEqual(await s.getDestinationState(name), { paused: false })
    })

    test('takeProbe: one node probes an open breaker; the others wait, then take over when it lapses', async () => {
      const a = h.store()
      const b = await h.second()
      const name = uid('probe')
      const opened = T0
      assert.equal(await a.takeProbe(name, opened, T0 + 5_000, T0 + 1_000), true, 'nothing stored: probe')
      await a.setDestinationState(name, { state: 'open', failures: 5, openedAt: opened }, T0)
      assert.equal(await a.takeProbe(name, opened, T0 + 5_000, T0 + 1_000), true, 'the first asker')
      assert.equal(await b.takeProbe(name, opened, T0 + 5_000, T0 + 1_001), false, 'held by the first')
      assert.equal(
        await a.takeProbe(name, opened, T0 + 5_000, T0 + 2_000),
        false,
        'held, even for its holder',
      )
      assert.equal(await b.takeProbe(name, opened, T0 + 9_000, T0 + 6_000), true, 'lapsed: taken over')
      // a newer opening (another node's failed probe) makes an older one wait
      await b.setDestinationState(name, { state: 'open', failures: 6, openedAt: T0 + 7_000 }, T0 + 7_000)
      assert.equal(await a.takeProbe(name, opened, T0 + 12_000, T0 + 10_000), false, 'opened again later')
      assert.equal(await a.takeProbe(name, T0 + 7_000, T0 + 12_000, T0 + 10_000), true, 'that opening')
      // a probe that succeeded closed it for everyone
      await a.setDestinationState(name, { state: 'closed', failures: 0 }, T0 + 11_000)
      assert.equal(await b.takeProbe(name, T0 + 7_000, T0 + 20_000, T0 + 15_000), false, 'closed')
      assert.deepEqual(await b.getDestinationState(name), { state: 'closed', failures: 0 })
    })

    test('nextDue and counts on an empty database, then with work; only the given destinations count', async () => {
      const [s] = await h.fresh()
      await s.migrate()
      const d = uid('d')
      const other = uid('d')
      const mine = [d, other]
      assert.equal(await s.nextDue(mine), undefined)
      assert.deepEqual(await s.counts(), { deliveries: {}, events: 0, signals: 0 })
      await s.ingest(
        req([
          item({
            derive: () => ({ timers: [{ key: 'k', kind: 'k', dueAt: T0 + 500, payload: {} }], signals: [] }),
          }),
        ]),
        T0,
      )
      // timers fire on any node, whatever it sends to
      assert.equal(await s.nextDue([]), T0 + 500)
      await s.ingest(req([item({ destinations: [d] })]), T0 + 100)
      assert.equal(await s.nextDue(mine), T0 + 100)
      // work for a destination this node does not send to does not wake it
      assert.equal(await s.nextDue([uid('d')]), T0 + 500)
      await s.ingest(req([item({ destinations: [other] })], { lease: lease('n', [uid('z')]) }), T0 + 200)
      const [job] = await s.claimDeliveries({
        token: 'n',
        now: T0 + 100,
        leaseMs: 50,
        limit: 1,
        destinations: [d],
      })
      assert.equal(await s.nextDue(mine), T0 + 150)
      assert.equal(await s.nextDue([other]), T0 + 200)
      await s.recordAttempts([attemptRec(job, 'delivered')], T0 + 120)
      assert.equal(await s.nextDue(mine), T0 + 200)
      assert.deepEqual(await s.counts(), { deliveries: { pending: 1, delivered: 1 }, events: 3, signals: 2 })
      await s.ping()
    })

    test('tallies: deliveries, events and signals of a time range by hour, campaign and status; match keys kept', async () => {
      const [s] = await h.fresh()
      await s.migrate()
      const HOUR = 3_600_000
      const H = Math.floor(T0 / HOUR) * HOUR
      const meta = uid('meta')
      const hook = uid('hook')
      const call = (campaign?: string): EcapiEvent =>
        ecapi(uid('ev'), campaign ? { ext: { call: { call_id: uid('c'), campaign } } } : {})
      /** One event at `at` deriving one signal (its event snapshot carrying the campaign) to `to`. */
      const ingestAt = (at: number, to: string[], ev: EcapiEvent, dedupKey?: string) =>
        s.ingest(
          req([
            {
              event: ev,
              dedupKey,
              derive: (ctx) => ({
                signals: [
                  {
                    signal: { ...signal(ctx, uid('sig'), 'qualified_call'), event: ev, createdAt: at },
                    destinations: to,
                  },
                ],
              }),
            },
          ]),
          at,
        )
      const ny = call('mortgage-ny')
      await ingestAt(H + 1_000, [meta, hook], ny, 'k-ny')
      await ingestAt(H + 2_000, [meta], call())
      await ingestAt(H + 3_000, [meta], ny, 'k-ny') // a duplicate: an event, no signal
      await ingestAt(H + 4_000, [], call('solar')) // a signal no route sent anywhere
      await ingestAt(H - 1, [meta], call('mortgage-ny')) // the hour before: outside the range
      await ingestAt(H + HOUR, [meta], call('mortgage-ny')) // the range's end: outside

      const claim = (dest: string, now = H + 10_000) =>
        s.claimDeliveries({ token: 'n', now, leaseMs: 60_000, limit: 10, destinations: [dest] })
      const metaJobs = (await claim(meta)).sort((a, b) => a.delivery.id.localeCompare(b.delivery.id))
      const [hookJob] = await claim(hook)
      const byCreation = metaJobs.filter((j) => j.delivery.createdAt >= H && j.delivery.createdAt < H + HOUR)
      assert.equal(byCreation.length, 2)
      const [nyJob, plainJob] = byCreation
      const delivered = (job: LeasedJob, matchKeys?: string[]) => {
        const r = attemptRec(job, 'delivered')
        return { ...r, next: { ...r.next, ...(matchKeys ? { matchKeys } : {}) } }
      }
      await s.recordAttempts(
        [delivered(nyJob, ['em', 'fbc']), delivered(plainJob, []), delivered(hookJob)],
        H + 20_000,
      )
      const [row] = (await s.listDeliveries({ destination: meta, limit: 10 })).filter(
        (d) => d.id === nyJob.delivery.id,
      )
      assert.deepEqual(row.matchKeys, ['em', 'fbc'])
      const t = await s.trace(nyJob.signal.eventId)
      assert.deepEqual(t?.deliveries.find((d) => d.destination === meta)?.matchKeys, ['em', 'fbc'])
      assert.equal(t?.deliveries.find((d) => d.destination === hook)?.matchKeys, undefined)
      // a later attempt that carries no keys (a retry after a replay) keeps what the delivery had
      await s.replay(nyJob.delivery.id, H + 30_000)
      const [again] = (await claim(meta, H + 40_000)).filter((j) => j.delivery.id === nyJob.delivery.id)
      await s.recordAttempts([attemptRec(again, 'pending', H + 99_000)], H + 31_000)
      const [kept] = (await s.listDeliveries({ destination: meta, limit: 10 })).filter(
        (d) => d.id === nyJob.delivery.id,
      )
      assert.deepEqual(kept.matchKeys, ['em', 'fbc'])
      assert.equal(kept.status, 'pending')

      const range = { fromMs: H, toMs: H + HOUR }
      const order = (a: { destination: string; campaign: string | null }, b: typeof a) =>
        `${a.destination}/${a.campaign}`.localeCompare(`${b.destination}/${b.campaign}`)
      const tally = { hour: H, signal: 'qualified_call', currency: 'USD', value: 12.5 }
      assert.deepEqual(
        (await s.deliveryTallies(range)).sort(order),
        [
          {
            ...tally,
            campaign: 'mortgage-ny',
            destination: hook,
            status: 'delivered',
            deliveries: 1,
            reported: 0,
            matched: 0,
          },
          {
            ...tally,
            campaign: null,
            destination: meta,
            status: 'delivered',
            deliveries: 1,
            reported: 1,
            matched: 0,
          },
          {
            ...tally,
            campaign: 'mortgage-ny',
            destination: meta,
            status: 'pending',
            deliveries: 1,
            reported: 0,
            matched: 0,
          },
        ].sort(order),
      )

      const intake = await s.intakeTallies(range)
      const events = intake.events.sort((a, b) =>
        `${a.campaign}/${a.status}`.localeCompare(`${b.campaign}/${b.status}`),
      )
      assert.deepEqual(
        events,
        [
          { hour: H, source: 'ecapi', campaign: 'mortgage-ny', status: 'accepted', events: 1 },
          { hour: H, source: 'ecapi', campaign: 'mortgage-ny', status: 'duplicate', events: 1 },
          { hour: H, source: 'ecapi', campaign: null, status: 'accepted', events: 1 },
          { hour: H, source: 'ecapi', campaign: 'solar', status: 'accepted', events: 1 },
        ].sort((a, b) => `${a.campaign}/${a.status}`.localeCompare(`${b.campaign}/${b.status}`)),
      )
      const signals = intake.signals.sort((a, b) => String(a.campaign).localeCompare(String(b.campaign)))
      assert.deepEqual(
        signals,
        [
          { ...tally, campaign: 'mortgage-ny', signals: 1, unrouted: 0, unroutedValue: 0 },
          { ...tally, campaign: null, signals: 1, unrouted: 0, unroutedValue: 0 },
          { ...tally, campaign: 'solar', signals: 1, unrouted: 1, unroutedValue: 12.5 },
        ].sort((a, b) => String(a.campaign).localeCompare(String(b.campaign))),
      )
      // buckets of a report in a time zone: here two hours from H - 1 h, so the hour before joins this one
      const wide = await s.deliveryTallies(
        { fromMs: H - HOUR, toMs: H + HOUR },
        { ms: 2 * HOUR, startMs: H - HOUR },
      )
      assert.deepEqual([...new Set(wide.map((r) => r.hour))], [H - HOUR])
      assert.deepEqual(
        [meta, hook].map((d) =>
          wide.filter((r) => r.destination === d).reduce((n, r) => n + r.deliveries, 0),
        ),
        [3, 1],
      )
      const wideIntake = await s.intakeTallies(
        { fromMs: H - HOUR, toMs: H + HOUR },
        { ms: 2 * HOUR, startMs: H - HOUR },
      )
      assert.deepEqual(
        [...new Set([...wideIntake.events, ...wideIntake.signals].map((r) => r.hour))],
        [H - HOUR],
      )
      assert.equal(
        wideIntake.signals.reduce((n, r) => n + r.signals, 0),
        4,
      )
      assert.equal(
        wideIntake.signals.reduce((n, r) => n + r.unrouted, 0),
        1,
      )
      // the hour before holds only what was created in it
      const before = await s.deliveryTallies({ fromMs: H - HOUR, toMs: H })
      assert.deepEqual(
        before.map((r) => [r.hour, r.destination, r.deliveries]),
        [[H - HOUR, meta, 1]],
      )
    })

    test('two nodes claiming at once never get the same delivery', async () => {
      const a = h.store()
      const b = await h.second()
      const d = uid('d')
      const ids = await pendingTo(a, d, 120)
      const taken = new Map<string, string>()
      const worker = async (s: Store, token: string) => {
        for (;;) {
          const got = await s.claimDeliveries({
            token,
            now: T0,
            leaseMs: 60_000,
            limit: 7,
            destinations: [d],
          })
          if (got.length === 0) return
          for (const j of got) {
            assert.equal(taken.get(j.delivery.id), undefined, `${j.delivery.id} claimed twice`)
            taken.set(j.delivery.id, token)
          }
        }
      }
      await Promise.all([worker(a, 'a1'), worker(b, 'b1'), worker(a, 'a2'), worker(b, 'b2')])
      assert.deepEqual([...taken.keys()].sort(), ids.sort())
    })

    test('group commit: many concurrent ingests all resolve and are all present', async () => {
      const s = h.store()
      const d = uid('d')
      const n = 300
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          s.ingest(req([item({ dedupKey: `gc:${d}:${i % 250}`, destinations: [d] })]), T0),
        ),
      )
      const accepted = results.filter((r) => r.outcomes[0].status === 'accepted')
      assert.equal(accepted.length, 250)
      assert.equal((await s.listDeliveries({ destination: d, limit: 1000 })).length, 250)
      for (const r of results) assert.ok(await s.trace(r.outcomes[0].eventId))
    })

    test('holdbacks reported by derive come back in the result', async () => {
      const r = await h
        .store()
        .ingest(
          req([
            item({ derive: () => ({ signals: [], holdbacks: ['repeat_caller'] }) }),
            item({ derive: () => ({ signals: [], holdbacks: ['spam'] }) }),
          ]),
          T0,
        )
      assert.deepEqual(r.holdbacks, ['repeat_caller', 'spam'])
    })

    test('one failing derive fails only its own request', async () => {
      const s = h.store()
      const d = uid('d')
      const boom = s.ingest(
        req([
          item({ destinations: [d] }),
          item({
            derive: () => {
              throw new Error('rule bug')
            },
          }),
        ]),
        T0,
      )
      const ok = s.ingest(req([item({ destinations: [d] })]), T0)
      await assert.rejects(boom, /rule bug/)
      await ok
      // the failed request's first item rolled back with it
      assert.equal((await s.listDeliveries({ destination: d, limit: 10 })).length, 1)
    })
  })
}

// ---- privacy: retention and subject deletion (src/privacy) ----

/** Planted PII for one person, and every form it may be stored in. */
function person(n: string) {
  const local = `jane.doe${n}`
  return {
    email: `${local.replace('jane', 'Jane')}+cl@Example.com`,
    local,
    e164: `+1212555${n}`,
    formats: [`+1212555${n}`, `(212) 555-${n}`, `212555${n}`, `%2B1212555${n}`],
    ip: `203.0.113.${Number(n) % 200}`,
    ua: `Mozilla/5.0 (X11; Linux x86_64) Planted${n}/9.9`,
  }
}
type Person = ReturnType<typeof person>

/** Where the person's raw values still appear in `dump` (decoded first, so `%2B`, `%40` and `+` count). */
function leaks(dump: string, p: Person): string[] {
  const decoded = dump.replace(/%([0-9a-f]{2})/gi, (_m, h: string) =>
    String.fromCharCode(Number.parseInt(h, 16)),
  )
  const text = `${dump}\n${decoded.replaceAll('+', ' ')}`.toLowerCase()
  const digits = p.e164.slice(2).split('')
  const phone = new RegExp(`(?<![0-9])${digits.join('[^0-9]{0,3}')}(?![0-9])`)
  const out: string[] = []
  if (text.includes(p.local)) out.push('email')
  if (phone.test(text)) out.push('phone')
  if (new RegExp(`(?<![0-9.])${p.ip.replaceAll('.', '\\.')}(?![0-9])`).test(text)) out.push('ip')
  if (text.includes(p.ua.split(' ').at(-1)!.split('/')[0].toLowerCase())) out.push('ua')
  return out
}

interface PrivacyDb {
  store: Store
  /** Every column of every table as text. */
  dump(): Promise<string>
  close(): Promise<void>
}

async function privacyDb(kind: 'sqlite' | 'postgres'): Promise<PrivacyDb> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'closeloop-privacy-'))
    const file = join(dir, 'p.db')
    const store = openSqliteStore(file)
    await store.migrate()
    const { DatabaseSync } = await import('node:sqlite')
    return {
      store,
      async dump() {
        const db = new DatabaseSync(file)
        try {
          const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()
          return tables
            .map((t) => JSON.stringify(db.prepare(`SELECT * FROM "${String(t.name)}"`).all()))
            .join('\n')
        } finally {
          db.close()
        }
      },
      async close() {
        await store.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  const db = await createTestDatabase()
  const store = await openPostgresStore(db.url)
  await store.migrate()
  const pg = (await import('pg')).default
  return {
    store,
    async dump() {
      const c = new pg.Client({ connectionString: db.url })
      await c.connect()
      try {
        const tables = await c.query<{ t: string }>(
          "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public'",
        )
        const parts: string[] = []
        for (const { t } of tables.rows)
          parts.push(
            ...(await c.query<{ r: string }>(`SELECT row_to_json(x)::text AS r FROM "${t}" x`)).rows.map(
              (r) => r.r,
            ),
          )
        return parts.join('\n')
      } finally {
        await c.end()
      }
    },
    async close() {
      await store.close()
      await db.drop()
    },
  }
}

/** One person's records everywhere: raw body, event, signal snapshot, journey, fact, attempt with `{caller}`. */
async function plant(store: Store, p: Person, at: number, visitor = true): Promise<{ eventId: string }> {
  const dest = uid('pb')
  const ev = ecapi(uid('ev'), {
    user_data: {
      email_address: [p.email],
      phone_numbers: [p.formats[1]],
      event_ip_address: p.ip,
      event_user_agent: p.ua,
      landing_ip_address: p.ip,
      landing_user_agent: p.ua,
    },
    ext: { call: { call_id: uid('CA'), caller: p.e164 } },
  } as Partial<EcapiEvent>)
  const body = `{"events":[{"user_data":{"email_address":"${p.email}","phone_numbers":["${p.formats[2]}"],"event_ip_address":"${p.ip}","event_user_agent":"${p.ua}"},"note":"call me at ${p.formats[1]}"}]}`
  const callKey = uid('call:CA')
  const res = await store.ingest(
    {
      raw: raw({ body, receivedAt: at, headers: { 'user-agent': p.ua, 'x-forwarded-for': p.ip } }),
      items: [
        item({
          event: ev,
          journey: { key: callKey },
          derive: (ctx) => ({
            journey: {
              key: callKey,
              state: { caller: p.e164, userData: ev.user_data, notes: { spam: `blocked ${p.e164}` } },
              aliases: [`phone:${identityKeyOf(p.e164)}`],
            },
            facts: {
              [`caller:c:${identityKeyOf(p.e164)}`]: { value: { call_id: 'CA1', at }, ttlMs: 86_400_000 },
              // a visitor touch holds IP and UA but neither email nor phone: only retention can find it
              ...(visitor
                ? {
                    [`visitor:${uid('v')}`]: {
                      value: { landing_ip_address: p.ip, landing_user_agent: p.ua },
                      ttlMs: 86_400_000,
                    },
                  }
                : {}),
            },
            signals: [{ signal: { ...signal(ctx), event: ev }, destinations: [dest] }],
          }),
        }),
      ],
      lease: lease('tok-privacy', [dest]),
    },
    at,
  )
  const job = res.leased[0]
  await store.recordAttempts(
    [
      {
        deliveryId: job.delivery.id,
        leaseToken: job.leaseToken,
        attempt: {
          deliveryId: job.delivery.id,
          n: 1,
          startedAt: at,
          outcome: 'retry',
          code: 'HTTP_500',
          message: `rejected caller ${p.formats[0]}`,
          exchange: {
            method: 'GET',
            url: `https://net.test/pb?caller=${encodeURIComponent(p.e164)}&em=${encodeURIComponent(p.email)}`,
            headers: {},
            body: `caller=${encodeURIComponent(p.e164)}&ip=${p.ip}`,
            status: 500,
            response: `unknown caller ${p.formats[2]}`,
            latencyMs: 3,
          },
        },
        next: { status: 'dead', dueAt: at, attempts: 1, lastError: `unknown caller ${p.formats[1]}` },
      },
    ],
    at,
  )
  return { eventId: res.outcomes[0].eventId }
}

const identityKeyOf = (e164: string) => createHash('sha256').update(e164).digest('hex').slice(0, 32)
const sha = (s: string) => createHash('sha256').update(s).digest('hex')

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`Store privacy: ${kind}`, () => {
    let db: PrivacyDb
    before(async () => {
      db = await privacyDb(kind)
    })
    after(() => db.close())

    test('retention scrubs raw PII from every table once, keeps hashes and counts', async () => {
      const p = person('0147')
      const { eventId } = await plant(db.store, p, T0)
      assert.deepEqual(leaks(await db.dump(), p), ['email', 'phone', 'ip', 'ua'])
      const before = await db.store.counts()
      // cutoff in the future: everything stored so far is older
      const counts = await db.store.scrubExpired(Date.now() + 60_000, Date.now(), { chunk: 2 })
      for (const t of ['raw_inputs', 'events', 'signals', 'attempts', 'journeys', 'facts'])
        assert.ok((counts[t] ?? 0) >= 1, `${t} scrubbed: ${JSON.stringify(counts)}`)
      assert.deepEqual(leaks(await db.dump(), p), [])
      const trace = await db.store.trace(eventId)
      assert.deepEqual(trace?.event.event.user_data?.email_address, [sha('jane.doe0147+cl@example.com')])
      assert.deepEqual(trace?.event.event.user_data?.phone_numbers, [sha(p.e164)])
      assert.equal(trace?.event.event.user_data?.event_ip_address, undefined)
      assert.match(trace?.raw?.body ?? '', /[0-9a-f]{64}/)
      assert.deepEqual(await db.store.counts(), before)
      // each row once: a second pass finds nothing
      assert.deepEqual(await db.store.scrubExpired(Date.now() + 60_000, Date.now()), {})
      const [audit] = await db.store.listAudit({ limit: 1 })
      assert.equal(audit.action, 'retention')
      assert.deepEqual(audit.counts, counts)
    })

    test('retention leaves rows newer than the cutoff alone', async () => {
      const p = person('0233')
      await plant(db.store, p, Date.now())
      await db.store.scrubExpired(Date.now() - 86_400_000, Date.now())
      assert.deepEqual(leaks(await db.dump(), p), ['email', 'phone', 'ip', 'ua'])
    })

    test('forgetSubject erases one person everywhere, values and hashes, and nobody else', async () => {
      const a = person('0311')
      const b = person('0422')
      await plant(db.store, a, Date.now(), false)
      await plant(db.store, b, Date.now())
      const subject = {
        emails: [a.email.toLowerCase()],
        phones: [a.e164],
        hashes: [sha(a.email.toLowerCase()), sha(a.e164), sha(a.e164.slice(1)), identityKeyOf(a.e164)],
      }
      const res = await db.store.forgetSubject(
        {
          needles: { emails: subject.emails, phones: subject.phones },
          hashes: subject.hashes,
          subject: 'f'.repeat(64),
          actor: 'crm',
        },
        Date.now(),
      )
      for (const t of [
        'raw_inputs',
        'events',
        'signals',
        'attempts',
        'deliveries',
        'journeys',
        'journey_aliases',
        'facts',
      ])
        assert.ok((res.deleted[t] ?? 0) >= 1, `${t}: ${JSON.stringify(res.deleted)}`)
      const dump = await db.dump()
      assert.deepEqual(leaks(dump, a), [])
      for (const h of subject.hashes) assert.ok(!dump.includes(h), `hash ${h.slice(0, 8)} gone`)
      // the other person, not yet due for retention, is untouched
      assert.deepEqual(leaks(dump, b), ['email', 'phone', 'ip', 'ua'])
      assert.ok(dump.includes(identityKeyOf(b.e164)))
      const [audit] = await db.store.listAudit({ limit: 5 })
      assert.equal(audit.id, res.auditId)
      assert.equal(audit.action, 'forget')
      assert.equal(audit.subject, 'f'.repeat(64))
      assert.equal(audit.actor, 'crm')
      assert.deepEqual(audit.counts, res.deleted)
      // deleting again finds nothing left
      const again = await db.store.forgetSubject(
        {
          needles: { emails: subject.emails, phones: subject.phones },
          hashes: subject.hashes,
          subject: 'f',
          actor: 'crm',
        },
        Date.now(),
      )
      assert.deepEqual(again.deleted, {})
    })
  })
}
