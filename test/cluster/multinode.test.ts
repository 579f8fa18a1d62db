/**
 * Scale-out, the "must show" test: three `serve` processes on one PostgreSQL database take 50,000 events
 * round-robin; midway one node is SIGKILLed. The surviving nodes reclaim the dead node's leases, so every
 * acknowledged event's signal reaches the receiver; no delivery is ever in flight from two nodes at once
 * (per signal id, the receiver's request intervals never overlap); re-sends are bounded by the attempts the
 * killed node had in flight; and dedup holds across nodes (one `events` row accepted per event id, the same
 * event sent to two nodes at once is accepted once and recorded once as a duplicate).
 */
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { test } from 'node:test'
import pg from 'pg'
import {
  type ClusterNode,
  overlaps,
  resends,
  sleep,
  startIntervalReceiver,
  startNodes,
} from '../helpers/cluster.ts'
import { createTestDatabase } from '../helpers/postgres.ts'

/** 50,000 by default; CLOSELOOP_MULTINODE_EVENTS lowers it for a quick local run. */
const EVENTS = Number(process.env.CLOSELOOP_MULTINODE_EVENTS ?? 50_000)
const BATCH = 100
/** Ingest requests in flight: enough to keep every group-commit lane of every node busy. */
const IN_FLIGHT = 16
/** Postback requests per node at once; postback sends one delivery per request (batch size 1). */
const CONCURRENCY = 32
const POSTBACK_BATCH = 1
const DUP_PAIRS = 20

interface Ack {
  status: 'accepted' | 'duplicate'
  event_id: string
  duplicate_of?: string
  signals: string[]
}

/** Where undelivered signals stand in the database, for a failure message. */
async function describe(url: string, signalIds: string[]): Promise<string> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const { rows } = await c.query(
      `SELECT status, attempts, lease_token, sign(coalesce(lease_until, 0) - $2)::int AS lease_ahead,
              sign(due_at - $2)::int AS due_ahead, left(last_error, 80) AS last_error, count(*)::int AS n
       FROM deliveries WHERE signal_id = ANY($1::text[]) GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY n DESC LIMIT 20`,
      [signalIds, Date.now()],
    )
    const { rows: attempts } = await c.query(
      `SELECT outcome, code, count(*)::int AS n FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
       WHERE d.signal_id = ANY($1::text[]) GROUP BY 1, 2`,
      [signalIds],
    )
    return JSON.stringify({ deliveries: rows, attempts })
  } finally {
    await c.end()
  }
}

const event = (id: string) => ({
  data_set_id: 'multinode',
  id,
  timestamp: Math.floor(Date.now() / 1000),
  event_type: 'contact',
})

test('three nodes on one database, one SIGKILLed midway: every acknowledged event delivered, never concurrently, dedup across nodes', {
  timeout: 900_000,
}, async (t) => {
  const db = await createTestDatabase('closeloop_multinode')
  const rx = await startIntervalReceiver(3)
  const nodes: ClusterNode[] = []
  const t0 = performance.now()
  // a timed-out test keeps running until its body returns: kill the children at once so none outlives it
  t.signal.addEventListener('abort', () => {
    for (const n of nodes) n.child.kill('SIGKILL')
  })
  try {
    await startNodes(
      ['a', 'b', 'c'].map((name) => ({
        name,
        dbUrl: db.url,
        receiverUrl: rx.url,
        concurrency: CONCURRENCY,
        poolSize: 10,
        // a live node's postback that times out is retried, which would count as a re-send: the receiver
        // answers at once, so only a stalled machine reaches this, and the test must not fail for it
        timeoutMs: 6_000,
        leaseS: 10,
      })),
      nodes,
    )
    const victim = nodes[2]
    const owed = new Map<string, string>() // event id → signal id
    let failedRequests = 0
    let failedEvents = 0
    let killedAt = 0
    let deadAt = 0
    let ackedAtKill = 0
    const unexpected: string[] = []

    const dupResults: Array<[Ack, Ack]> = []
    const dupMs: number[] = []
    async function duplicatesAcrossNodes() {
      // the same event to two nodes in the same instant: exactly one accepts it
      await Promise.all(
        Array.from({ length: DUP_PAIRS }, async (_, i) => {
          const e = event(`dup-${i}`)
          // a 503 (the store timed out under load) stored nothing: a client retries it, as Retry-After says
          const post = async (n: (typeof nodes)[number]) => {
            for (let attempt = 0; ; attempt++) {
              const r = await n.post(e, 120_000)
              if (r.status !== 503 || attempt >= 10) return r
              await new Promise((res) => setTimeout(res, 500))
            }
          }
          const [x, y] = await Promise.all([post(nodes[0]), post(nodes[1])])
          dupMs.push(x.ms, y.ms)
          assert.equal(x.status, 200, `dup ${i} on a: ${JSON.stringify(x.body)}`)
          assert.equal(y.status, 200, `dup ${i} on b: ${JSON.stringify(y.body)}`)
          const pair: [Ack, Ack] = [x.body as Ack, y.body as Ack]
          dupResults.push(pair)
          for (const r of pair) if (r.status === 'accepted') owed.set(`dup-${i}`, r.signals[0])
        }),
      )
    }

    let next = 0
    const batchMs: number[] = []
    let dupRun: Promise<void> | undefined
    async function client() {
      for (;;) {
        const k = next++
        if (k * BATCH >= EVENTS) return
        const node = nodes[k % nodes.length]
        const ids = Array.from({ length: BATCH }, (_, i) => `mn-${k}-${i}`)
        if (k === Math.floor(EVENTS / BATCH / 4)) {
          dupRun = duplicatesAcrossNodes()
          dupRun.catch(() => undefined) // awaited (and rethrown) after the stream
        }
        try {
          let res = await node.post({ events: ids.map(event) }, 120_000)
          // 503 = the store timed out under load and nothing was stored: retry, as Retry-After asks
          for (let attempt = 0; res.status === 503 && attempt < 10; attempt++) {
            await new Promise((r) => setTimeout(r, 500))
            res = await node.post({ events: ids.map(event) }, 120_000)
          }
          batchMs.push(res.ms)
          if (res.status !== 200) {
            unexpected.push(`${node.name}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`)
            failedRequests++
            failedEvents += BATCH
            continue
          }
          const results = (res.body as { results: Ack[] }).results
          results.forEach((r, i) => {
            if (r.status === 'accepted' && r.signals.length === 1) owed.set(ids[i], r.signals[0])
            else unexpected.push(`${ids[i]}: ${JSON.stringify(r)}`)
          })
        } catch {
          // the killed node: connection reset or refused; these events were not acknowledged
          failedRequests++
          failedEvents += BATCH
          if (node !== victim) unexpected.push(`${node.name}: request failed on a live node`)
        }
        if (!killedAt && owed.size >= EVENTS / 2) {
          killedAt = performance.now()
          ackedAtKill = owed.size
          await victim.kill()
          deadAt = performance.now()
          t.diagnostic(
            `killed node ${victim.name} at ${((killedAt - t0) / 1000).toFixed(1)} s with ${ackedAtKill} events acknowledged, ` +
              `${rx.signals().size} signals delivered`,
          )
        }
      }
    }
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => client()))
    await dupRun
    const ingestMs = performance.now() - t0
    assert.ok(killedAt > 0, 'the victim was killed midway')
    assert.deepEqual(unexpected, [], 'live nodes answered every request with accepted events')

    // every acknowledged event's signal arrives: the survivors reclaim the dead node's leases. How long the
    // backlog takes depends on the machine, so the wait ends when delivery stops making progress (no new
    // signal for 60 s, far beyond the 10 s lease), not at a fixed time.
    let missing = [...owed.values()].filter((s) => !rx.signals().has(s))
    let progressAt = Date.now()
    while (missing.length > 0 && Date.now() - progressAt < 60_000) {
      await sleep(250)
      const got = rx.signals()
      const before = missing.length
      missing = missing.filter((s) => !got.has(s))
      if (missing.length < before) progressAt = Date.now()
    }
    const deliveredMs = performance.now() - t0
    if (missing.length > 0)
      t.diagnostic(`missing signals in the database: ${await describe(db.url, missing)}`)
    assert.equal(
      missing.length,
      0,
      `${missing.length} acknowledged signals never arrived, e.g. ${missing[0]}`,
    )
    await sleep(500) // a straggling re-send would show up here

    // no delivery in flight from two nodes (or twice from one) at the same time
    const clash = overlaps(rx.hits)
    assert.deepEqual(
      clash.slice(0, 3).map(([x, y]) => ({ sig: x.sig, first: x.node, second: y.node })),
      [],
      `${clash.length} concurrent sends of one signal`,
    )

    // re-sends come only from attempts the killed node had in flight
    const re = resends(rx.hits)
    const bound = CONCURRENCY * POSTBACK_BATCH
    const fromVictim = rx.hits.filter((h) => h.node === victim.name)
    t.diagnostic(
      `events sent ${EVENTS} in ${EVENTS / BATCH} requests of ${BATCH}; acknowledged ${owed.size} ` +
        `(${ackedAtKill} before the kill); not acknowledged ${failedEvents} (${failedRequests} requests to the killed node)`,
    )
    t.diagnostic(
      `receiver: ${rx.hits.length} requests for ${rx.signals().size} signals; ${fromVictim.length} sent by the killed node; ` +
        `re-sends ${re.total} (${re.signals} signals, by ${JSON.stringify(re.byNode)}), bound ${bound} ` +
        `(concurrency ${CONCURRENCY} × batch ${POSTBACK_BATCH})`,
    )
    const p = (xs: number[], q: number) =>
      Math.round([...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))])
    t.diagnostic(
      `ingest answers: batches of ${BATCH} p50 ${p(batchMs, 0.5)} ms, max ${p(batchMs, 1)} ms; ` +
        `the same event to two nodes at once: p50 ${p(dupMs, 0.5)} ms, max ${p(dupMs, 1)} ms`,
    )
    t.diagnostic(
      `time: ingest ${(ingestMs / 1000).toFixed(1)} s, everything delivered ${(deliveredMs / 1000).toFixed(1)} s, ` +
        `${((deliveredMs - (killedAt - t0)) / 1000).toFixed(1)} s after the kill; ` +
        `ingest ${Math.round((owed.size / ingestMs) * 1000)} events/s`,
    )
    assert.ok(
      re.total <= bound,
      `re-sends ${re.total} exceed the ${bound} attempts the killed node had in flight`,
    )
    // and each one re-sends a signal whose earlier attempt was the killed node's: live nodes never lost a lease
    const first = new Map<string, (typeof rx.hits)[number]>()
    for (const h of [...rx.hits].sort((x, y) => x.start - y.start)) if (!first.has(h.sig)) first.set(h.sig, h)
    const resentSigs = new Set(rx.hits.filter((h) => first.get(h.sig) !== h).map((h) => h.sig))
    const notVictims = [...resentSigs].filter((sig) => first.get(sig)?.node !== victim.name)
    assert.deepEqual(
      notVictims.slice(0, 5),
      [],
      `${notVictims.length} re-sends of signals a live node had sent`,
    )
    const lastVictimStart = Math.max(0, ...[...resentSigs].map((sig) => first.get(sig)?.start ?? 0))
    assert.ok(
      lastVictimStart <= deadAt,
      're-sent attempts were made before the kill (in flight when it landed)',
    )
    for (const node of Object.keys(re.byNode))
      assert.notEqual(node, victim.name, 're-sends are made by the survivors, never the dead node')

    // dedup across nodes: one accepted, one duplicate of it, per pair
    assert.equal(dupResults.length, DUP_PAIRS)
    for (const [x, y] of dupResults) {
      const statuses = [x.status, y.status].sort()
      assert.deepEqual(statuses, ['accepted', 'duplicate'], JSON.stringify([x, y]))
      const [acc, dup] = x.status === 'accepted' ? [x, y] : [y, x]
      assert.equal(dup.duplicate_of, acc.event_id)
      assert.equal(acc.signals.length, 1)
      assert.deepEqual(dup.signals, [])
    }

    // the database: exactly one accepted `events` row per event id, every acknowledged one among them
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    try {
      const rows = (
        await c.query<{ id: string; accepted: number; duplicate: number }>(
          `SELECT body->>'id' AS id, count(*) FILTER (WHERE status = 'accepted')::int AS accepted,
                  count(*) FILTER (WHERE status = 'duplicate')::int AS duplicate
           FROM events GROUP BY 1`,
        )
      ).rows
      const byId = new Map(rows.map((r) => [r.id, r]))
      const multi = rows.filter((r) => r.accepted !== 1)
      assert.deepEqual(multi.slice(0, 5), [], `${multi.length} event ids without exactly one accepted row`)
      for (const id of owed.keys()) assert.ok(byId.has(id), `acknowledged ${id} has no events row`)
      for (let i = 0; i < DUP_PAIRS; i++) assert.equal(byId.get(`dup-${i}`)?.duplicate, 1, `dup-${i}`)
      const stuck = (
        await c.query<{ status: string; n: number }>(
          `SELECT status, count(*)::int AS n FROM deliveries WHERE status <> 'delivered' GROUP BY 1`,
        )
      ).rows
      t.diagnostic(
        `database: ${rows.length} event ids (${rows.length - owed.size} committed but not acknowledged: ` +
          `the killed node's last commits); deliveries not delivered: ${JSON.stringify(stuck)}`,
      )
    } finally {
      await c.end()
    }
  } catch (err) {
    for (const n of nodes) if (n.stderr()) t.diagnostic(`node ${n.name} stderr: ${n.stderr().slice(-2000)}`)
    throw err
  } finally {
    await Promise.all(nodes.map((n) => n.cleanup()))
    await rx.close()
    await db.drop()
  }
})
