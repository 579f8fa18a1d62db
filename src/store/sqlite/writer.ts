/**
 * Group commit for SQLite: every write is an operation queued here; all operations queued during one
 * event-loop turn run in one transaction, and their promises settle only once the transaction is durable.
 * One failing operation fails alone: the transaction is rolled back and the batch written again with each
 * operation in its own SAVEPOINT (see `flush`), so an operation may run twice and must change nothing but the
 * database (or change it idempotently).
 *
 * Durability without blocking: `node:sqlite` is synchronous, and with `synchronous = FULL` every COMMIT
 * fsyncs the WAL on the event loop — on this VM fsync is p50 0.8 ms, p99 10 ms, and while it runs no request
 * is parsed and no conversion is sent (the benchmark measured the commit at 27–33 % of the server's samples).
 * So in durable mode SQLite itself does not sync (`synchronous = OFF`); after COMMIT the writer fdatasyncs the
 * WAL file on libuv's thread pool and settles every batch committed before that sync began. Operations that
 * arrive while a sync is in flight wait, then commit together when it ends (see `schedule`).
 *
 * Checkpoints, which copy the WAL into the main file and make it durable before the WAL is reused, run on a
 * thread of their own (checkpointer.ts) while commits go on; see `checkpoint` for how the WAL still starts
 * over under a steady stream of commits.
 *
 * Nothing else runs while a transaction is open, so readers never see a half-written request and the one
 * connection needs no lock of its own.
 */
import { fdatasync, openSync } from 'node:fs'
import type { DatabaseSync } from 'node:sqlite'
import type { Checkpointer } from './checkpointer.ts'

interface Pending {
  op: () => unknown
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
}

interface Settled {
  pending: Pending
  ok: boolean
  value: unknown
}

export interface Writer {
  /** Queues `op` for the next transaction. It may run twice (see `flush`): it must touch nothing else. */
  run<T>(op: () => T): Promise<T>
  /** Settles once everything queued so far is durable and no checkpoint runs. */
  idle(): Promise<void>
  /** `idle`, then stops the checkpointer. */
  close(): Promise<void>
  /**
   * Transactions, operations and WAL syncs so far; checkpoints by where they ran, and `waitMs`, how long
   * commits waited for them in all (second passes, and fallback checkpoints on the loop).
   */
  stats(): {
    transactions: number
    operations: number
    syncs: number
    checkpoints: { thread: number; writer: number; waitMs: number }
  }
}

export interface WriterOptions {
  /** Path of the WAL file to fdatasync after commits; undefined = SQLite syncs itself (or nothing to sync). */
  walPath?: string
  /**
   * When checkpoints run: after so many operations or so many changed rows, whichever comes first.
   * Single-event requests (3 rows each) reach the operation count; batches of 100 events (~200 rows each)
   * the row count. Each checkpoint writes the hot index pages to the main file and fsyncs it, so the fewer
   * the better, as long as the WAL stays a few hundred MB at most: it must start over now and then, or every
   * commit appends to a growing file.
   *
   * With checkpoints on their thread, every 16,000 operations instead of 8,000 gave (a) 15,021 and 15,526
   * against 14,011 and 14,336 req/s, p99 5.5–5.7 against 7.0–7.2 ms (half as many second passes, which hold
   * commits); (c)'s p99 at 1,000 events/s moved within its noise (12.8 and 6.7 against 6.7 and 15.6 ms).
   * Earlier, with checkpoints on the event loop and 32 single-event connections: every 1,000 operations
   * 7,780–8,067 req/s, p99 25 ms; every 4,000: 8,655–8,803, p99 7–10 ms; every 16,000: 9,040–9,143, p99
   * 6–7 ms. Batches of 100 kept ~19,500 events/s every 1,000 operations (100,000 events) and fell to 12,700
   * every 16,000 (a WAL of GBs); every 1,000 rows, they fell from 14,100 to 10,100 events/s.
   *
   * `by` runs them; without `checkpoints`, the writer never checkpoints.
   */
  checkpoints?: { every: { operations: number; rows: number }; by: Checkpointer }
}

export function createWriter(db: DatabaseSync, opts: WriterOptions = {}): Writer {
  let queue: Pending[] = []
  let scheduled = false
  let transactions = 0
  let operations = 0
  let syncs = 0
  let walFd: number | undefined
  let syncing = false
  let awaitingSync: Settled[] = []
  let opsSinceCheckpoint = 0
  let rowsAtCheckpoint = 0
  const checkpoints = { thread: 0, writer: 0, waitMs: 0 }
  /** 'copying': commits go on meanwhile; 'finishing': they wait for the last pass (see `checkpoint`). */
  let checkpointing: 'no' | 'copying' | 'finishing' = 'no'
  let committedWhileCopying = false
  let checkpointDone: Promise<void> = Promise.resolve()

  function settle(list: Settled[]) {
    for (const s of list) {
      if (s.ok) s.pending.resolve(s.value)
      else s.pending.reject(s.value)
    }
  }

  /** One fdatasync covers every batch committed before it started; batches committed meanwhile wait for the next. */
  function sync() {
    if (syncing || awaitingSync.length === 0) return
    if (walFd === undefined && opts.walPath) {
      try {
        walFd = openSync(opts.walPath, 'r+')
      } catch {
        // no WAL yet (nothing written): nothing to make durable
      }
    }
    if (walFd === undefined) {
      settle(awaitingSync.splice(0))
      return
    }
    syncing = true
    const batch = awaitingSync
    awaitingSync = []
    fdatasync(walFd, (err) => {
      syncing = false
      syncs++
      if (err) for (const s of batch) s.pending.reject(err)
      else settle(batch)
      sync()
      schedule()
    })
  }

  /**
   * Flushes on the next turn, unless a sync is in flight: what would commit meanwhile could only be
   * acknowledged by the next sync anyway, so it waits and commits as one transaction when the sync ends.
   * Every COMMIT writes each page it touched to the WAL, however few rows changed it: under 32 concurrent
   * single-event requests, transactions grew from ~10 to ~16 operations, one per sync.
   */
  function schedule() {
    if (scheduled || syncing || checkpointing === 'finishing' || queue.length === 0) return
    scheduled = true
    setImmediate(flush)
  }

  /**
   * The WAL starts over only at a commit that finds every frame of it copied. Under a steady stream of
   * commits, a copy that runs beside them never catches up: the WAL grew round after round and batch ingest
   * slowed from 14,000 to 9,900 events/s when checkpoints first ran on a thread. So when commits happened
   * during the copy, they wait for a second pass, which copies only their frames and syncs the main file;
   * the next commit then starts the WAL over. Under bench (a) (15,000 single events/s, a checkpoint every
   * ~0.5 s) the first pass took 28–54 ms beside the commits and the second 17–68 ms (longer as the file
   * grew), with the event loop free all along. The second pass is nearly all the main file's fdatasync (its
   * copy ~2 ms), which costs ~25 µs per scattered dirty page on this VM's disk (400 random pages of a 1 GiB
   * file: 9–12 ms, appended or not), so a further pass beside the commits before it did not shorten it (p50
   * 45 and 41 against 49 and 43 ms). On the loop, one checkpoint held everything for 25–31 ms at 1,000
   * events/s.
   */
  function checkpoint(cp: Checkpointer) {
    checkpointing = 'copying'
    committedWhileCopying = false
    opsSinceCheckpoint = 0
    rowsAtCheckpoint = totalChanges()
    let waitFrom: number | undefined
    const finish = () => {
      checkpointing = 'finishing'
      waitFrom = performance.now()
      return cp.checkpoint()
    }
    checkpointDone = cp
      .checkpoint()
      .then((r) => (committedWhileCopying || r.checkpointed < r.log ? finish() : r))
      .then(
        () => {
          checkpoints.thread++
        },
        // if the thread fails, this connection checkpoints: the loop stalls as before, but the WAL stays
        // bounded
        () => {
          waitFrom ??= performance.now()
          checkpointHere()
          checkpoints.writer++
        },
      )
      // both failed (a full disk?): the WAL keeps every frame, and the next checkpoint tries again
      .catch(() => undefined)
      .finally(() => {
        if (waitFrom !== undefined) checkpoints.waitMs += performance.now() - waitFrom
        checkpointing = 'no'
        schedule()
      })
  }

  /** A checkpoint on the writer's connection, on the event loop: the fallback when the thread fails. */
  function checkpointHere() {
    // the main file must be durable before the WAL it came from is reused
    db.exec('PRAGMA synchronous = FULL')
    try {
      db.exec('PRAGMA wal_checkpoint(PASSIVE)')
    } finally {
      db.exec('PRAGMA synchronous = OFF')
    }
  }

  const changes = db.prepare('SELECT total_changes() AS n')
  const totalChanges = () => Number((changes.get() as { n: number }).n)

  // transaction control is prepared once: db.exec parsed it again for every operation
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  const rollback = db.prepare('ROLLBACK')
  const savepoint = db.prepare('SAVEPOINT op')
  const release = db.prepare('RELEASE op')
  const rollbackTo = db.prepare('ROLLBACK TO op')

  /** Every operation, no savepoints; undefined when one threw (the transaction then holds its partial writes). */
  function runAll(batch: Pending[]): Settled[] | undefined {
    const results: Settled[] = []
    for (const p of batch) {
      try {
        results.push({ pending: p, ok: true, value: p.op() })
      } catch {
        return undefined
      }
    }
    return results
  }

  /** Each operation in its own savepoint: a failing one rolls back alone. */
  function runEach(batch: Pending[]): Settled[] {
    const results: Settled[] = []
    for (const p of batch) {
      savepoint.run()
      try {
        const value = p.op()
        release.run()
        results.push({ pending: p, ok: true, value })
      } catch (err) {
        rollbackTo.run()
        release.run()
        results.push({ pending: p, ok: false, value: err })
      }
    }
    return results
  }

  /** After `runAll` failed: the same batch from the start, each operation in a savepoint. */
  function runAgain(batch: Pending[]): Settled[] {
    // some errors (a full disk, I/O) end the transaction themselves
    if (db.isTransaction) rollback.run()
    begin.run()
    return runEach(batch)
  }

  /**
   * Operations run without savepoints first: a SAVEPOINT and a RELEASE per operation were ~15 % of the CPU
   * of the rows of a single-event ingest (the store floor of bench (a): 69 → 58 µs per event, 16 per
   * commit), and an operation almost never fails. When one does, the whole transaction is rolled back and
   * the batch runs again, each operation in a savepoint. A lone operation needs neither: its failure is the
   * transaction's.
   */
  function flush() {
    scheduled = false
    // a flush scheduled before the last pass of a checkpoint began waits for its end (which schedules again)
    if (checkpointing === 'finishing') return
    const batch = queue
    queue = []
    if (batch.length === 0) return
    let results: Settled[]
    try {
      begin.run()
      results =
        batch.length === 1
          ? [{ pending: batch[0], ok: true, value: batch[0].op() }]
          : (runAll(batch) ?? runAgain(batch))
      commit.run()
    } catch (err) {
      // the commit (or the lone operation) failed: nothing in this batch is stored
      if (db.isTransaction) rollback.run()
      for (const p of batch) p.reject(err)
      return
    }
    transactions++
    operations += batch.length
    if (checkpointing === 'copying') committedWhileCopying = true
    if (!opts.walPath) {
      settle(results)
      return
    }
    awaitingSync.push(...results)
    sync()
    opsSinceCheckpoint += batch.length
    const cp = opts.checkpoints
    if (
      cp &&
      checkpointing === 'no' &&
      (opsSinceCheckpoint >= cp.every.operations || totalChanges() - rowsAtCheckpoint >= cp.every.rows)
    )
      checkpoint(cp.by)
  }

  async function idle() {
    await run(() => undefined)
    await checkpointDone
  }

  function run<T>(op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queue.push({ op, resolve: resolve as (v: unknown) => void, reject })
      schedule()
    })
  }

  return {
    run,
    idle,
    async close() {
      await idle()
      await opts.checkpoints?.by.close()
    },
    stats: () => ({ transactions, operations, syncs, checkpoints: { ...checkpoints } }),
  }
}
