/**
 * The job-queue workload on two PostgreSQL queues behind one interface, so the comparison runs the very same
 * driver: enqueue one job per call, claim a batch, complete the batch.
 *
 * - closeloop: its PostgreSQL store in-process. Enqueue = `store.ingest` of one event whose `derive` returns one
 *   signal routed to one destination (raw input + event + signal + delivery rows, one group-committed
 *   transaction shared with concurrent callers); claim = `claimDeliveries` (SKIP LOCKED); complete =
 *   `recordAttempts` (attempt rows + delivery state, lease-guarded).
 * - pg-boss: `send` / `fetch({ batchSize })` / `complete(name, ids)`, maintenance and scheduling off so only
 *   the workload runs.
 */
import PgBoss from 'pg-boss'
import { GRANTED } from '../../src/model/identity.ts'
import { newId } from '../../src/store/ids.ts'
import { openPostgresStore } from '../../src/store/postgres/index.ts'
import type { AttemptRecord } from '../../src/store/types.ts'

export interface JobQueue {
  label: string
  enqueue(n: number): Promise<void>
  /** Up to `limit` jobs, leased to the caller; [] when none is due. */
  claim(limit: number): Promise<unknown[]>
  complete(jobs: unknown[]): Promise<void>
  close(): Promise<void>
  /** Operations per committed transaction so far (closeloop's group commit), when the queue can tell. */
  opsPerCommit?(): number
}

const DESTINATION = 'jobs'
/** closeloop's default pool and pg-boss's default `max`: the same number of connections each. */
export const POOL_SIZE = 10

export async function closeloopQueue(url: string): Promise<JobQueue> {
  const store = await openPostgresStore(url, { poolSize: POOL_SIZE })
  await store.migrate()
  const token = newId('lease')
  type Job = { delivery: { id: string }; leaseToken: string }
  return {
    label: 'closeloop store',
    async enqueue(n) {
      const now = Date.now()
      const event = {
        data_set_id: 'bench',
        id: `job-${n}`,
        timestamp: Math.floor(now / 1000),
        event_type: 'contact',
      }
      await store.ingest(
        {
          raw: {
            id: newId('raw', now),
            source: 'bench',
            kind: 'job',
            receivedAt: now,
            headers: {},
            body: JSON.stringify({ n }),
          },
          items: [
            {
              event,
              derive: (ctx) => ({
                signals: [
                  {
                    signal: {
                      id: newId('sig', now),
                      name: 'job',
                      eventId: ctx.eventId,
                      dataSetId: 'bench',
                      occurredAt: event.timestamp,
                      event,
                      consent: GRANTED,
                      attrs: { n },
                      causes: [ctx.rawId],
                      createdAt: now,
                    },
                    destinations: [DESTINATION],
                  },
                ],
              }),
            },
          ],
        },
        now,
      )
    },
    claim: (limit) =>
      store.claimDeliveries({ token, now: Date.now(), leaseMs: 60_000, limit, destinations: [DESTINATION] }),
    async complete(jobs) {
      const now = Date.now()
      const records: AttemptRecord[] = (jobs as Job[]).map((j) => ({
        deliveryId: j.delivery.id,
        leaseToken: j.leaseToken,
        attempt: { deliveryId: j.delivery.id, n: 1, startedAt: now, outcome: 'delivered' },
        next: { status: 'delivered', dueAt: now, attempts: 1 },
      }))
      await store.recordAttempts(records, now)
    },
    close: () => store.close(),
    opsPerCommit() {
      const s = store.groupCommitStats()
      return s.transactions ? s.operations / s.transactions : 0
    },
  }
}

export async function pgBossQueue(url: string): Promise<JobQueue> {
  const boss = new PgBoss({ connectionString: url, max: POOL_SIZE, supervise: false, schedule: false })
  boss.on('error', () => undefined)
  await boss.start()
  await boss.createQueue(DESTINATION)
  return {
    label: 'pg-boss',
    async enqueue(n) {
      await boss.send(DESTINATION, { n })
    },
    claim: (limit) => boss.fetch(DESTINATION, { batchSize: limit }),
    async complete(jobs) {
      await boss.complete(
        DESTINATION,
        (jobs as Array<{ id: string }>).map((j) => j.id),
      )
    },
    close: () => boss.stop({ graceful: false, wait: true }),
  }
}
