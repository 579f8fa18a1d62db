/**
 * Group commit for PostgreSQL: concurrent writes share one transaction and one COMMIT (one WAL flush).
 * Operations queued during one event-loop turn, plus everything that queues while earlier batches are
 * committing, form a batch; each runs inside its own SAVEPOINT so one failing operation rolls back alone,
 * and every promise settles only after COMMIT returns. There is no fixed linger window: at low load a
 * lone request commits at once (the hot path's p99 budget is 10 ms), under load batches grow by themselves
 * while the previous ones are in flight.
 *
 * Batches run in a few lanes at once (each lane one open transaction at a time), and an operation picks
 * its lane by affinity (its journey key): two events of one call never wait on each other's locks from two
 * open transactions of the same node. A deadlock or serialization failure that still happens (two nodes
 * touching the same journeys in opposite order) rolls back that operation's savepoint and re-queues it for
 * a later batch, by which time the other transaction has finished.
 */
import type pg from 'pg'
import { classify, isConnectionError, isRetryableConflict, storeUnavailable } from './errors.ts'
import { type Queryable, rollback, wrap } from './pool.ts'

interface Pending {
  op: (q: Queryable) => Promise<unknown>
  /** Set when the operation can be written together with others of the same `Merge` in one batch. */
  merge?: { with: Merge<unknown, unknown>; input: unknown }
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
  tries: number
  lane: number
}

/**
 * Operations that can be written as one: `many` does for several inputs, in one savepoint, what `one`
 * does for each. If `many` fails, the batch falls back to `one` per input, each in its own savepoint, so a
 * bad input still fails alone.
 */
export interface Merge<I, T> {
  one(q: Queryable, input: I): Promise<T>
  many(q: Queryable, inputs: I[]): Promise<T[]>
  /**
   * When a batch is nothing but inputs of this merge: writes them with no transaction around (each
   * statement commits by itself), or returns `undefined` having written nothing. Throwing also means
   * nothing was written; either way the batch then runs as usual.
   */
  alone?(q: Queryable, inputs: I[]): Promise<T[] | undefined>
}

export interface GroupCommit {
  /**
   * Runs `op` in the next batch of its lane. Operations with the same `affinity` (a journey key) share a
   * lane, so on one node they never sit in two concurrently open transactions waiting on each other's locks.
   */
  run<T>(op: (q: Queryable) => Promise<T>, affinity?: string): Promise<T>
  /** As `run`, for an operation that the batch may write together with others of the same `merge`. */
  runMerged<I, T>(merge: Merge<I, T>, input: I, affinity?: string): Promise<T>
  /** Waits for everything queued so far to settle. */
  drain(): Promise<void>
  /**
   * Committed transactions, operations, how many of those were written merged with others, and how many
   * batches were written by `Merge.alone` (in one statement, as one of the transactions).
   */
  stats(): { transactions: number; operations: number; merged: number; alone: number }
}

const MAX_TRIES = 3 // conflicts are rare and clear once the other transaction commits; 3 rules out bad luck, not a livelock
const MAX_BATCH = 256 // bounds one transaction's lock set and the latency of its last member

interface Lane {
  queue: Pending[]
  busy: boolean
}

/**
 * @param notify the statement that tells other nodes which destinations got work (`q.wake`), given the
 *   destinations and the connection's literal escaping; it runs in the same round trip as COMMIT
 */
export function createGroupCommit(
  pool: pg.Pool,
  lanes: number,
  notify?: (destinations: string[], literal: (s: string) => string) => string,
): GroupCommit {
  const lane: Lane[] = Array.from({ length: Math.max(1, lanes) }, () => ({ queue: [], busy: false }))
  let transactions = 0
  let operations = 0
  let merged = 0
  let alone = 0
  let open = 0
  const idle: Array<() => void> = []
  let rr = 0

  const settleIdle = () => {
    if (open === 0) for (const f of idle.splice(0)) f()
  }

  /** One batch at a time per lane: what queues meanwhile is the next batch. */
  function schedule(l: Lane) {
    if (l.busy || l.queue.length === 0) return
    l.busy = true
    // setImmediate: everything arriving in this event-loop turn joins the batch
    setImmediate(() => {
      const batch = l.queue.slice(0, MAX_BATCH)
      l.queue = l.queue.slice(MAX_BATCH)
      void flush(batch).finally(() => {
        l.busy = false
        schedule(l)
      })
    })
  }

  async function flush(batch: Pending[]) {
    let client: pg.PoolClient
    try {
      client = await pool.connect()
    } catch (err) {
      settle(
        batch.map(() => ({ ok: false, value: classify(err) })),
        batch,
      )
      return
    }
    const q: Queryable = { ...wrap(client), wake: notify ? new Set() : undefined }
    const results = new Map<Pending, { ok: boolean; value: unknown }>()
    const retry: Pending[] = []
    let mergedHere = 0
    // units run one after another, each in its own savepoint: all mergeable operations of one kind together
    // (when there are several), then every other operation alone
    const units: Pending[][] = []
    const groups = new Map<Merge<unknown, unknown>, Pending[]>()
    for (const p of batch) {
      const g = p.merge && groups.get(p.merge.with)
      if (g) g.push(p)
      else if (p.merge) groups.set(p.merge.with, [p])
      else units.push([p])
    }
    for (const g of groups.values())
      if (g.length > 1) units.unshift(g)
      else units.push(g)
    const only = units.length === 1 ? units[0] : undefined
    if (only?.[0].merge?.with.alone) {
      let values: unknown[] | undefined
      try {
        values = await only[0].merge.with.alone(
          q,
          only.map((p) => p.merge!.input),
        )
      } catch (err) {
        if (isConnectionError(err)) {
          client.release(asError(err))
          settle(
            batch.map(() => ({ ok: false, value: classify(err) })),
            batch,
          )
          return
        }
      }
      if (values) {
        client.release()
        transactions++
        alone++
        operations += batch.length
        if (batch.length > 1) merged += batch.length
        settle(
          values.map((value) => ({ ok: true, value })),
          batch,
        )
        return
      }
    }
    try {
      // statements without parameters share a round trip: BEGIN with the first SAVEPOINT, each RELEASE with
      // the next SAVEPOINT; COMMIT releases the last one
      await client.query('BEGIN; SAVEPOINT op')
      for (let i = 0; i < units.length; i++) {
        const unit = units[i]
        try {
          if (unit.length > 1) {
            const m = unit[0].merge!
            const values = await m.with.many(
              q,
              unit.map((p) => p.merge!.input),
            )
            unit.forEach((p, k) => {
              results.set(p, { ok: true, value: values[k] })
            })
            mergedHere += unit.length
          } else results.set(unit[0], { ok: true, value: await unit[0].op(q) })
          if (i < units.length - 1) await client.query('RELEASE op; SAVEPOINT op')
        } catch (err) {
          // a broken connection fails the whole batch (handled below); anything else only this unit
          if (isConnectionError(err)) throw err
          // a merged unit is written again one by one, so only the operation at fault fails
          if (unit.length > 1) units.splice(i + 1, 0, ...unit.map((p) => [p]))
          await client.query(
            i === units.length - 1 ? 'ROLLBACK TO op' : 'ROLLBACK TO op; RELEASE op; SAVEPOINT op',
          )
          if (unit.length > 1) continue
          const p = unit[0]
          if (isRetryableConflict(err) && p.tries + 1 < MAX_TRIES) {
            retry.push({ ...p, tries: p.tries + 1 })
            results.set(p, { ok: true, value: RETRIED })
          } else results.set(p, { ok: false, value: classify(err) })
        }
      }
      const wake = q.wake?.size && notify ? `${notify([...q.wake], (s) => client.escapeLiteral(s))}; ` : ''
      await client.query(`${wake}COMMIT`)
    } catch (err) {
      // nothing in this batch is durable; a COMMIT lost in transit may have landed, so callers retry and
      // the dedup key turns a landed-and-retried event into a duplicate, never a second signal
      await rollback(client)
      client.release(isConnectionError(err) ? asError(err) : undefined)
      const e = isConnectionError(err) ? classify(err) : storeUnavailable('commit failed', err)
      settle(
        batch.map(() => ({ ok: false, value: e })),
        batch,
      )
      return
    }
    client.release()
    transactions++
    operations += batch.length - retry.length
    merged += mergedHere
    for (const p of retry) enqueue(p)
    settle(
      batch.map((p) => results.get(p) ?? { ok: false, value: storeUnavailable('not run', undefined) }),
      batch,
    )
  }

  function settle(results: Array<{ ok: boolean; value: unknown }>, batch: Pending[]) {
    batch.forEach((p, i) => {
      const r = results[i]
      if (r.value === RETRIED) return
      open--
      if (r.ok) p.resolve(r.value)
      else p.reject(r.value)
    })
    settleIdle()
  }

  /** Queues an operation on its lane: by affinity (a journey key), else round-robin. */
  function submit<T>(work: Pick<Pending, 'op' | 'merge'>, affinity?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      open++
      const l = (affinity === undefined ? rr++ : hash(affinity)) % lane.length
      enqueue({ ...work, resolve: resolve as (v: unknown) => void, reject, tries: 0, lane: l })
    })
  }

  function enqueue(p: Pending) {
    const l = lane[p.lane]
    l.queue.push(p)
    schedule(l)
  }

  return {
    run: <T>(op: (q: Queryable) => Promise<T>, affinity?: string) => submit<T>({ op }, affinity),
    runMerged: <I, T>(merge: Merge<I, T>, input: I, affinity?: string) =>
      submit<T>(
        { op: (q) => merge.one(q, input), merge: { with: merge as Merge<unknown, unknown>, input } },
        affinity,
      ),
    drain() {
      if (open === 0) return Promise.resolve()
      return new Promise<void>((r) => idle.push(r))
    },
    stats: () => ({ transactions, operations, merged, alone }),
  }
}

const RETRIED = Symbol('retried')

/** FNV-1a: cheap, stable, well spread for short keys. */
function hash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
