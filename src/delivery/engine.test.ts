/**
 * The delivery engine against a real SQLite store: leases that a job outwaited in memory are renewed (or, if
 * another node took the job, it is not sent), and the hot path stops leasing to a lane whose queue is full.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startReceiver } from '../../test/helpers/receiver.ts'
import type { DestinationJob } from '../destinations/contract.ts'
import { GRANTED } from '../model/identity.ts'
import type { Outcome } from '../model/signal.ts'
import { createMetrics } from '../observe/metrics.ts'
import { newId } from '../store/ids.ts'
import { openSqliteStore } from '../store/sqlite/index.ts'
import type { IngestItem, LeasedJob, Store } from '../store/types.ts'
import { createEngine, type EngineDestination } from './engine.ts'

const quiet = { info() {}, warn() {} }

let dir = ''
let store: Store
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'closeloop-engine-'))
  store = openSqliteStore(join(dir, 'engine.db'))
  await store.migrate()
})
after(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

/** `n` deliveries to `destination`, leased at ingest to `token` until `untilMs` (if `leaseTo` includes it). */
async function leased(
  destination: string,
  n: number,
  token: string,
  untilMs: number,
  leaseTo: ReadonlySet<string> = new Set([destination]),
): Promise<LeasedJob[]> {
  const now = Date.now()
  const items: IngestItem[] = Array.from({ length: n }, (_, i) => {
    const id = newId('ev', now)
    return {
      event: { data_set_id: 'engine', id, timestamp: Math.floor(now / 1000), event_type: 'lead' },
      derive: (ctx) => ({
        signals: [
          {
            signal: {
              id: `sig-${destination}-${i}-${id}`,
              name: 'lead',
              eventId: ctx.eventId,
              dataSetId: 'engine',
              occurredAt: Math.floor(now / 1000),
              event: { data_set_id: 'engine', id, timestamp: Math.floor(now / 1000), event_type: 'lead' },
              consent: GRANTED,
              attrs: {},
              causes: [ctx.rawId],
              createdAt: now,
            },
            destinations: [destination],
          },
        ],
      }),
    }
  })
  const res = await store.ingest(
    {
      raw: {
        id: newId('raw', now),
        source: 'ecapi',
        kind: 'events',
        receivedAt: now,
        contentType: 'application/json',
        headers: {},
        body: '{}',
      },
      items,
      lease: { token, untilMs, destinations: leaseTo },
    },
    now,
  )
  return res.leased
}

/** A destination that records what it was sent and answers when `gate` opens. */
function recorder(name: string, opts: { concurrency?: number; gate?: Promise<void> } = {}) {
  const sent: string[] = []
  const d: EngineDestination = {
    name,
    audience: 'partner',
    batchSize: 1,
    concurrency: opts.concurrency ?? 4,
    timeoutMs: 1_000,
    policy: { scheduleS: [1], jitter: 0, maxRetryAfterS: 60 },
    ctx: { testMode: false, now: Date.now, log: quiet } as unknown as EngineDestination['ctx'],
    destination: {
      async send(jobs: DestinationJob[]): Promise<Outcome[]> {
        await opts.gate
        for (const j of jobs) sent.push(j.delivery.id)
        return jobs.map(() => ({ kind: 'delivered' }))
      },
    },
  }
  return { d, sent }
}

function engineFor(
  d: EngineDestination,
  token = 'node-a',
  timing: { cooldownMs?: number; sweepIntervalMs?: number; leaseMs?: number } = {},
  on: { store?: Store; log?: EngineDestination['ctx']['log'] } = {},
) {
  return createEngine({
    store: on.store ?? store,
    destinations: [d],
    breaker: { failures: 5, cooldownMs: timing.cooldownMs ?? 1_000 },
    leaseMs: timing.leaseMs ?? 30_000,
    sweepIntervalMs: timing.sweepIntervalMs ?? 60_000,
    token,
    metrics: createMetrics(),
    log: on.log ?? quiet,
  })
}

async function statusOf(id: string) {
  return (await store.listDeliveries({ limit: 10_000 })).find((d) => d.id === id)?.status
}

async function until(check: () => Promise<boolean> | boolean, ms = 5_000) {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('delivery engine', () => {
  test('a job whose lease ran short while it waited is renewed and sent, not dropped', async () => {
    const { d, sent } = recorder('renew')
    const engine = engineFor(d)
    // leased at ingest with 500 ms left: less than the 1 s timeout plus margin
    const jobs = await leased('renew', 3, 'node-a', Date.now() + 500)
    engine.start()
    engine.enqueue(jobs)
    await until(() => sent.length === 3)
    await engine.stop()
    for (const j of jobs) assert.equal(await statusOf(j.delivery.id), 'delivered')
  })

  test('a job another node re-claimed after its lease ran out is not sent by us', async () => {
    const { d, sent } = recorder('stolen')
    const engine = engineFor(d)
    const jobs = await leased('stolen', 2, 'node-a', Date.now() - 1)
    // node b's sweep takes both expired leases before our engine gets to them
    const taken = await store.claimDeliveries({
      token: 'node-b',
      now: Date.now(),
      leaseMs: 60_000,
      limit: 10,
      destinations: ['stolen'],
    })
    assert.equal(taken.length, 2)
    engine.start()
    engine.enqueue(jobs)
    await new Promise((r) => setTimeout(r, 200))
    await engine.stop()
    assert.deepEqual(sent, [])
    for (const j of jobs) assert.equal(await statusOf(j.delivery.id), 'in_flight')
  })

  test('our own sweep re-claiming a job we hold while renewing it: one copy is sent, the newer lease', async () => {
    const { d, sent } = recorder('reclaimed')
    const engine = engineFor(d)
    const [old] = await leased('reclaimed', 1, 'node-a.1', Date.now() - 1)
    // the lease ran out; our sweep claimed the job again while the old copy was still held in memory
    const [fresh] = await store.claimDeliveries({
      token: 'node-a.2',
      now: Date.now(),
      leaseMs: 30_000,
      limit: 1,
      destinations: ['reclaimed'],
    })
    engine.start()
    engine.enqueue([old]) // taken at once and, its lease being short, sent to be renewed
    engine.enqueue([fresh]) // not in the queue any more: a second copy
    await until(() => sent.length === 1)
    await new Promise((r) => setTimeout(r, 100))
    await engine.stop()
    assert.deepEqual(sent, [old.delivery.id])
    assert.equal(await statusOf(old.delivery.id), 'delivered')
  })

  /**
   * Two nodes (two engines on one store) whose breakers opened on the same failing endpoint, each holding
   * jobs: after the cooldown one probe goes out among them, not one per node. The probe hangs for three
   * cooldowns, so a node probing on its own would show up; when it succeeds, everything is delivered.
   */
  test('a half-open breaker sends one probe across nodes', async () => {
    let mode: 'fail' | 'hang' | 'ok' = 'fail'
    let release = () => {}
    const hung = new Promise<void>((r) => {
      release = r
    })
    const sends: string[] = []
    const delivered = new Set<string>()
    const node = (token: string) => {
      const d: EngineDestination = {
        ...recorder('probe-shared', { concurrency: 1 }).d,
        destination: {
          async send(jobs: DestinationJob[]): Promise<Outcome[]> {
            sends.push(`${token}:${mode}`)
            if (mode === 'fail') return jobs.map(() => ({ kind: 'retry', code: 'E_HTTP_503' }))
            if (mode === 'hang') await hung
            for (const j of jobs) delivered.add(j.delivery.id)
            return jobs.map(() => ({ kind: 'delivered' }))
          },
        },
      }
      return engineFor(d, token, { cooldownMs: 100, sweepIntervalMs: 20 })
    }
    const a = node('node-a')
    const b = node('node-b')
    a.start()
    b.start()
    // five failures open a breaker: each node gets its own ten jobs and fails five of them
    a.enqueue(await leased('probe-shared', 10, 'node-a', Date.now() + 30_000))
    b.enqueue(await leased('probe-shared', 10, 'node-b', Date.now() + 30_000))
    await until(() => sends.filter((x) => x.endsWith(':fail')).length >= 10)
    // both breakers are open; each node now holds jobs of its own that it could probe with
    a.enqueue(await leased('probe-shared', 5, 'node-a', Date.now() + 30_000))
    b.enqueue(await leased('probe-shared', 5, 'node-b', Date.now() + 30_000))
    mode = 'hang'
    await until(() => sends.some((x) => x.endsWith(':hang')))
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(
      sends.filter((x) => x.endsWith(':hang')).length,
      1,
      `one probe in three cooldowns, got ${JSON.stringify(sends)}`,
    )
    mode = 'ok'
    release()
    // the rest is delivered (retries are due after 1 s), by both nodes once the breaker closed
    await until(() => delivered.size === 30, 10_000)
    await Promise.all([a.stop(), b.stop()])
  })

  test('a half-open probe dropped at lease renewal does not leave the destination stuck', async () => {
    let fail = true
    const sent: string[] = []
    const d: EngineDestination = {
      ...recorder('probe-dropped', { concurrency: 1 }).d,
      destination: {
        async send(jobs: DestinationJob[]): Promise<Outcome[]> {
          for (const j of jobs) sent.push(j.delivery.id)
          return jobs.map(() => (fail ? { kind: 'retry', code: 'E_HTTP_503' } : { kind: 'delivered' }))
        },
      },
    }
    const engine = engineFor(d, 'node-a', { cooldownMs: 100 })
    engine.start()
    engine.enqueue(await leased('probe-dropped', 5, 'node-a', Date.now() + 30_000))
    await until(() => engine.health('probe-dropped')?.state === 'open')
    fail = false
    // the first job after the cooldown, the probe, is one node b claimed when its lease ran out: renewal drops it
    const [stolen] = await leased('probe-dropped', 1, 'node-a.x', Date.now() - 1)
    const taken = await store.claimDeliveries({
      token: 'node-b',
      now: Date.now(),
      leaseMs: 60_000,
      limit: 1,
      destinations: ['probe-dropped'],
    })
    assert.deepEqual(
      taken.map((j) => j.delivery.id),
      [stolen.delivery.id],
    )
    const fresh = await leased('probe-dropped', 3, 'node-a.y', Date.now() + 30_000)
    engine.enqueue([stolen, ...fresh])
    // the next job probes instead, closes the breaker, and the rest follow
    try {
      await until(() => fresh.every((j) => sent.includes(j.delivery.id)), 3_000)
    } finally {
      await engine.stop()
    }
    assert.equal(sent.includes(stolen.delivery.id), false)
    assert.equal(engine.health('probe-dropped')?.state, 'closed')
  })

  test('leases are renewed while a slow request runs: the sweep does not send it again', async () => {
    const receiver = await startReceiver()
    receiver.setDefault({ status: 200, body: 'ok', delayMs: 1_500 })
    const d: EngineDestination = {
      ...recorder('slow').d,
      timeoutMs: 5_000,
      destination: {
        async send(jobs: DestinationJob[]): Promise<Outcome[]> {
          for (const j of jobs) await (await fetch(`${receiver.url}/pb?d=${j.delivery.id}`)).text()
          return jobs.map(() => ({ kind: 'delivered' }))
        },
      },
    }
    // a 300 ms lease, a 1.5 s answer, and a sweep every 20 ms that would take an expired lease over
    const engine = engineFor(d, 'node-a', { leaseMs: 300, sweepIntervalMs: 20 })
    const [job] = await leased('slow', 1, 'node-a', Date.now() + 300)
    engine.start()
    engine.enqueue([job])
    try {
      // a second request (the bug) shows up while the first is still waiting for its answer
      await until(
        async () => receiver.received.length > 1 || (await statusOf(job.delivery.id)) === 'delivered',
      )
      await new Promise((r) => setTimeout(r, 200))
    } finally {
      await engine.stop(2_000)
      await receiver.close()
    }
    assert.deepEqual(
      receiver.received.map((r) => r.url),
      [`/pb?d=${job.delivery.id}`],
    )
  })

  test('a lease lost while sending is logged; the send completes and the lane goes on', async () => {
    const warnings: string[] = []
    const log = { info() {}, warn: (_o: object, msg?: string) => void warnings.push(msg ?? '') }
    let release = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const { d, sent } = recorder('lost', { concurrency: 1, gate })
    // a store on which every renewal finds the lease taken
    const lossy: Store = { ...store, renewLeases: async () => [] }
    const engine = engineFor(d, 'node-a', { leaseMs: 300 }, { store: lossy, log })
    engine.start()
    engine.enqueue(await leased('lost', 2, 'node-a', Date.now() + 30_000))
    try {
      await until(() => warnings.includes('lease lost while sending: another node may send these again'))
    } finally {
      release()
    }
    await until(() => sent.length === 2)
    await engine.stop()
  })

  test('the hot path stops leasing to a lane whose queue is full; the backlog stays claimable', async () => {
    let open = () => {}
    const gate = new Promise<void>((r) => {
      open = r
    })
    const { d, sent } = recorder('full', { concurrency: 1, gate })
    const engine = engineFor(d)
    engine.start()
    assert.ok(engine.available().has('full'))
    // a request of 101 items cannot be leased whole to an empty lane of 100 (+1 in flight), 100 can
    assert.equal(engine.available(102).has('full'), false)
    assert.ok(engine.available(100).has('full'))
    // one in flight (held at the gate) and the lane's minimum queue of 100 behind it
    engine.enqueue(await leased('full', 101, 'node-a', Date.now() + 30_000))
    assert.equal(engine.available().has('full'), false, 'no room: ingest leaves new deliveries pending')
    const more = await leased('full', 5, 'node-a', Date.now() + 30_000, engine.available())
    assert.deepEqual(more, [])
    engine.wake(['full'])
    open()
    // the sweep claims the pending five once the queue has room
    await until(() => sent.length === 106)
    assert.ok(engine.available().has('full'), 'room again once the queue drains')
    await engine.stop()
  })

  test("a receiver's Retry-After holds the destination no longer than max_retry_after_s", async () => {
    const answers: Outcome[] = [
      // a year, and an HTTP date in 2100: honoured up to the policy's 0.2 s
      { kind: 'throttled', code: 'HTTP_429', retryAfterMs: 365 * 86_400_000 },
      { kind: 'retry', code: 'HTTP_503', retryAfterMs: Date.parse('2100-01-01') - Date.now() },
    ]
    const { d, sent } = recorder('slow-down')
    const send = d.destination.send
    d.policy = { scheduleS: [0.05, 0.05], jitter: 0, maxRetryAfterS: 0.2 }
    d.destination = {
      send: (jobs, ctx) => {
        const next = answers.shift()
        return next ? Promise.resolve(jobs.map(() => next)) : send(jobs, ctx)
      },
    }
    const engine = engineFor(d, 'node-a', { sweepIntervalMs: 50 })
    engine.start()
    const [job] = await leased('slow-down', 1, 'node-a', Date.now() + 30_000)
    engine.enqueue([job])
    await until(() => sent.length === 1, 3_000)
    assert.equal(await statusOf(job.delivery.id), 'delivered')
    await engine.stop()
  })
})
