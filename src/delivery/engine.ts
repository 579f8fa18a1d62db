/**
 * The delivery engine: in-memory queues per destination fed two ways —
 *  1. the hot path: ingest leases new deliveries to this node inside its commit and hands them straight here
 *     (`enqueue`), so a call-connected signal is sent without a claim round-trip or a poll;
 *  2. the sweep: a timer that wakes at the next due time (or the sweep interval) to claim scheduled retries
 *     and expired leases (another node's, or ours after a crash), and to fire durable timers.
 * Each destination sends at most `concurrency` requests of at most `batchSize` jobs; batches form
 * naturally while requests are in flight, with no linger delay on the hot path.
 *
 * @example
 *   const engine = createEngine({ store, destinations, policy, … }); engine.start(); engine.enqueue(leased)
 */
import type { Destination, DestinationContext, DestinationJob } from '../destinations/contract.ts'
import type { ConsentAudience } from '../model/identity.ts'
import type { Attempt, Outcome } from '../model/signal.ts'
import type { Metrics } from '../observe/metrics.ts'
import type { AttemptRecord, LeasedJob, Store } from '../store/types.ts'
import { clampRetryAfter, nextState, type RetryPolicy } from './backoff.ts'
import {
  admits,
  type BreakerConfig,
  type Health,
  initialHealth,
  onProbe,
  onResult,
  pause,
  resume,
} from './breaker.ts'

export interface EngineDestination {
  name: string
  audience: ConsentAudience
  destination: Destination
  batchSize: number
  concurrency: number
  timeoutMs: number
  /** Requests per second this node may send to the destination (token bucket); undefined = unlimited. */
  ratePerS?: number
  policy: RetryPolicy
  ctx: DestinationContext
}

export interface EngineOptions {
  store: Store
  destinations: EngineDestination[]
  breaker: BreakerConfig
  leaseMs: number
  sweepIntervalMs: number
  /** This node's id (one per process): the prefix of every lease token it takes. */
  token: string
  metrics: Metrics
  log: DestinationContext['log']
  now?: () => number
  /** Fires due durable timers (call rules); returns jobs leased to us and destinations with new work. */
  fireTimers?: (now: number) => Promise<{ leased: LeasedJob[]; pendingDestinations: string[] }>
}

interface Lane {
  d: EngineDestination
  queue: LeasedJob[]
  /** Queued jobs by delivery id: a fresher claim of a queued delivery refreshes it in place. */
  queued: Map<string, LeasedJob>
  inFlight: number
  health: Health
  /** `ratePerS` tokens taken from the store's shared bucket and not yet spent. */
  tokens: number
  /** A take from the shared bucket is under way. */
  refilling?: boolean
  /** A sweep found no room here: more may be pending in the store for us. */
  full?: boolean
  /** A timer that pumps the lane again when what it waits for (Retry-After, cooldown, a token) is over. */
  wakeTimer?: NodeJS.Timeout
  /** The store is being asked for the half-open probe / it granted it to us and we have not sent it yet. */
  probeAsked?: boolean
  probeGranted?: boolean
  /** When the probe the store granted us may be taken over by another node. */
  probeUntil?: number
}

/**
 * A job whose lease ends within its timeout plus this margin is renewed before it is sent; config refuses a
 * lease shorter than a destination's timeout plus this.
 */
export const LEASE_MARGIN_MS = 2_000
/**
 * How much work a lane holds in memory: this many full rounds of its concurrency. Beyond it, new deliveries
 * stay pending in the store for whichever node has room, so one node's backlog does not starve the others
 * (seen in the three-node test: a node queued thousands while its peers idled) and queued jobs do not
 * outwait their leases.
 */
const QUEUE_ROUNDS = 8
const MIN_QUEUE = 100
const MAX_QUEUE = 2_000
/** Most deliveries one sweep claims. */
const CLAIM_LIMIT = 500
const queueCap = (d: EngineDestination) =>
  Math.min(MAX_QUEUE, Math.max(MIN_QUEUE, d.concurrency * d.batchSize * QUEUE_ROUNDS))

export function createEngine(opts: EngineOptions) {
  const now = opts.now ?? Date.now
  const lanes = new Map<string, Lane>()
  /** What this node can send to: its sweep sleeps until the earliest work of these (`Store.nextDue`). */
  const names = opts.destinations.map((d) => d.name)
  for (const d of opts.destinations)
    lanes.set(d.name, {
      d,
      queue: [],
      queued: new Map(),
      inFlight: 0,
      health: initialHealth(),
      tokens: 0,
    })
  let running = false
  let sweepTimer: NodeJS.Timeout | undefined
  let sweeping: Promise<void> | undefined
  /** A claim between sweeps is running; `claimAgain`: a wake-up came meanwhile. */
  let claiming: Promise<void> | undefined
  let claimAgain = false
  const inFlight = new Set<Promise<void>>()
  let leases = 0
  /** A fresh token for each claim or ingest: see `LeaseRef`. */
  const leaseToken = () => `${opts.token}.${(++leases).toString(36)}`

  function enqueue(jobs: LeasedJob[]) {
    const touched = new Set<Lane>()
    for (const job of jobs) {
      const lane = lanes.get(job.delivery.destination)
      if (!lane) continue
      const queued = lane.queued.get(job.delivery.id)
      // our own sweep re-claimed a job whose lease ran out while it waited here: keep the new lease, one copy
      if (queued) Object.assign(queued, job)
      else {
        lane.queue.push(job)
        lane.queued.set(job.delivery.id, job)
      }
      touched.add(lane)
    }
    for (const lane of touched) pump(lane)
  }

  function pump(lane: Lane) {
    if (!running) return
    while (lane.inFlight < lane.d.concurrency && lane.queue.length > 0) {
      const t = now()
      const verdict = admits(lane.health, t, opts.breaker)
      if (verdict === 'wait') return wakeLater(lane, resumesAt(lane.health, t))
      // a half-open breaker sends one probe at a time, and one node of all sends it
      if (verdict === 'probe' && lane.inFlight > 0) return
      if (verdict === 'probe' && !lane.probeGranted) return askProbe(lane, t)
      if (!takeToken(lane)) return
      const probe = verdict === 'probe'
      if (probe) lane.probeGranted = false
      const openedAt = lane.health.openedAt
      const size = probe ? 1 : lane.d.batchSize
      const batch = lane.queue.splice(0, size)
      for (const job of batch) lane.queued.delete(job.delivery.id)
      lane.inFlight++
      const p = renewed(lane, batch)
        .then((jobs) => {
          if (probe) {
            // half_open only with a probe to send: one dropped at renewal (another node has it, or the store
            // failed) left the lane waiting on a result that never came. Still open, the next job probes,
            // under the grant we still hold if it has not run out.
            if (!jobs.length) {
              if (lane.health.state === 'open' && lane.health.openedAt === openedAt)
                lane.probeGranted = now() < (lane.probeUntil ?? 0)
              return
            }
            if (lane.health.state === 'open') lane.health = onProbe(lane.health)
          }
          return jobs.length ? send(lane, jobs) : undefined
        })
        // send handles every expected failure; anything else must not become an unhandled rejection (the
        // jobs' leases run out and the sweep sends them again)
        .catch((err) => opts.log.warn({ destination: lane.d.name, err: String(err) }, 'send failed'))
        .finally(() => {
          lane.inFlight--
          inFlight.delete(p)
          if (lane.full && drainedToHalf(lane)) {
            lane.full = false
            claimSoon()
          }
          pump(lane)
        })
      inFlight.add(p)
    }
  }

  /**
   * Asks the store for the half-open probe, so that N nodes send one probe per cooldown, not N. Refused, the
   * lane follows the shared state: closed by the other node's probe, it sends again; still open, it waits a
   * cooldown from now before asking again. A store that cannot answer lets this node probe on its own.
   */
  function askProbe(lane: Lane, t: number) {
    if (lane.probeAsked) return
    lane.probeAsked = true
    const openedAt = lane.health.openedAt ?? 0
    const until = t + lane.d.timeoutMs + LEASE_MARGIN_MS
    opts.store
      .takeProbe(lane.d.name, openedAt, until, t)
      .catch((err) => {
        opts.log.warn({ destination: lane.d.name, err: String(err) }, 'taking the probe failed')
        return true
      })
      .then(async (granted) => {
        if (!granted) {
          const stored = await storedHealth(lane)
          // the lane may have moved on meanwhile (a resume, a newer opening): only a still-open one follows
          if (lane.health.state === 'open' && lane.health.openedAt === openedAt) {
            if (stored?.state === 'closed')
              lane.health = { ...lane.health, state: 'closed', failures: 0, openedAt: undefined }
            else {
              lane.health = { ...lane.health, openedAt: Math.max(now(), stored?.openedAt ?? 0) }
              // what it claimed to probe with goes back, for the node that probes
              await releaseQueued(lane)
            }
          }
        } else {
          lane.probeGranted = true
          lane.probeUntil = until
        }
        lane.probeAsked = false
        pump(lane)
      })
      .catch((err) => opts.log.warn({ destination: lane.d.name, err: String(err) }, 'probe failed'))
  }

  /** When a waiting lane may send again: after Retry-After or the breaker's cooldown (a pause waits for resume). */
  function resumesAt(h: Health, t: number): number | undefined {
    if (h.paused) return undefined
    if (h.notBefore !== undefined && h.notBefore > t) return h.notBefore
    if (h.state === 'open' && h.openedAt !== undefined) return h.openedAt + opts.breaker.cooldownMs
    return undefined
  }

  function wakeLater(lane: Lane, at: number | undefined) {
    if (at === undefined || lane.wakeTimer) return
    lane.wakeTimer = setTimeout(
      () => {
        lane.wakeTimer = undefined
        pump(lane)
      },
      Math.max(1, at - now()),
    )
    lane.wakeTimer.unref?.()
  }

  /** Spends a `ratePerS` token; without one, fetches more (the lane is pumped again when they come). */
  function takeToken(lane: Lane): boolean {
    if (lane.d.ratePerS === undefined) return true
    if (lane.tokens >= 1) {
      lane.tokens -= 1
      return true
    }
    refill(lane, lane.d.ratePerS)
    return false
  }

  /**
   * Tokens come from the store's bucket, shared by every node, a tenth of a second's worth at a time: one
   * round trip buys several sends, and what one node holds unspent stays small. An empty bucket is asked
   * again after one token's interval.
   */
  function refill(lane: Lane, rate: number) {
    if (lane.refilling) return
    lane.refilling = true
    opts.store
      .takeRateTokens(lane.d.name, rate, Math.max(1, Math.ceil(rate / 10)))
      .catch((err) => {
        opts.log.warn({ destination: lane.d.name, err: String(err) }, 'taking rate tokens failed')
        return 0
      })
      .then((granted) => {
        lane.refilling = false
        lane.tokens += granted
        if (granted > 0) pump(lane)
        else wakeLater(lane, now() + 1000 / rate)
      })
  }

  /**
   * The batch minus jobs we no longer own. A job whose lease would end before its request could finish
   * (it waited in memory, or a slow commit ate its lease) is renewed first; what the store does not renew,
   * another node has claimed. If the store cannot answer, those jobs are left for the sweep to reclaim.
   */
  async function renewed(lane: Lane, batch: LeasedJob[]): Promise<LeasedJob[]> {
    const t = now()
    const stale = new Set(batch.filter((j) => j.leaseUntil - t < lane.d.timeoutMs + LEASE_MARGIN_MS))
    if (stale.size === 0) return batch
    const until = t + opts.leaseMs
    const kept = new Set(
      await opts.store
        .renewLeases(
          [...stale].map((j) => ({ deliveryId: j.delivery.id, token: j.leaseToken })),
          until,
          t,
        )
        .catch((err) => {
          opts.log.warn({ destination: lane.d.name, err: String(err) }, 'renewing leases failed')
          return [] as string[]
        }),
    )
    opts.metrics.leaseRenewals.inc({ destination: lane.d.name, result: 'renewed' }, kept.size)
    opts.metrics.leaseRenewals.inc({ destination: lane.d.name, result: 'lost' }, stale.size - kept.size)
    return batch.filter((j) => {
      if (!stale.has(j)) return true
      if (!kept.has(j.delivery.id)) return false
      j.leaseUntil = until
      return true
    })
  }

  /**
   * Renews the batch's leases while its send runs (every third of a lease, sooner if one ends earlier): a slow
   * answer, or batch isolation's several requests, may outlast a lease, and a sweep would then claim the jobs
   * and send them again. A lease found taken is logged and no longer renewed; the send goes on, and its
   * record cannot overwrite the new owner's. Returns the stop, which waits for a renewal under way.
   */
  function heartbeat(lane: Lane, batch: LeasedJob[]): () => Promise<void> {
    const held = new Set(batch)
    const every = opts.leaseMs / 3
    let stopped = false
    let failed = false
    let timer: NodeJS.Timeout | undefined
    let renewing: Promise<void> | undefined
    const renew = async () => {
      const t = now()
      const until = t + opts.leaseMs
      const jobs = [...held]
      let kept: Set<string>
      try {
        kept = new Set(
          await opts.store.renewLeases(
            jobs.map((j) => ({ deliveryId: j.delivery.id, token: j.leaseToken })),
            until,
            t,
          ),
        )
        failed = false
      } catch (err) {
        // the store may answer next time; until then the leases run as they are
        failed = true
        opts.log.warn({ destination: lane.d.name, err: String(err) }, 'renewing leases in flight failed')
        return
      }
      const lost = jobs.filter((j) => !kept.has(j.delivery.id))
      for (const j of jobs) if (kept.has(j.delivery.id)) j.leaseUntil = until
      for (const j of lost) held.delete(j)
      opts.metrics.leaseRenewals.inc({ destination: lane.d.name, result: 'renewed' }, kept.size)
      if (lost.length) {
        opts.metrics.leaseRenewals.inc({ destination: lane.d.name, result: 'lost' }, lost.length)
        opts.log.warn(
          { destination: lane.d.name, deliveries: lost.map((j) => j.delivery.id) },
          'lease lost while sending: another node may send these again',
        )
      }
    }
    const beat = () => {
      if (stopped || held.size === 0) return
      const earliest = Math.min(...[...held].map((j) => j.leaseUntil))
      const wait = failed ? every : Math.min(every, (earliest - now()) / 2)
      timer = setTimeout(
        () => {
          renewing = renew().finally(() => {
            renewing = undefined
            beat()
          })
        },
        Math.max(50, wait),
      )
      timer.unref?.()
    }
    beat()
    return async () => {
      stopped = true
      clearTimeout(timer)
      await renewing
    }
  }

  async function send(lane: Lane, batch: LeasedJob[]) {
    const started = now()
    // each destination sees the consent decision of its own audience; a withheld one is not sent at all
    const outcomes: Outcome[] = new Array(batch.length)
    const jobs: DestinationJob[] = []
    const sentIndex: number[] = []
    batch.forEach((j, i) => {
      const own = j.signal.consentFor?.[lane.d.audience]
      if (own?.withhold) {
        outcomes[i] = {
          kind: 'skipped',
          code: 'E_CONSENT_WITHHELD',
          message: own.reasons?.join('; ').slice(0, 500),
        }
        return
      }
      jobs.push({ delivery: j.delivery, signal: own ? { ...j.signal, consent: own } : j.signal })
      sentIndex.push(i)
    })
    if (jobs.length) {
      let sent: Outcome[]
      const stopBeating = heartbeat(lane, batch)
      try {
        sent = await lane.d.destination.send(jobs, lane.d.ctx)
        if (sent.length !== jobs.length) throw new Error(`destination returned ${sent.length} outcomes`)
      } catch (err) {
        // a destination bug must not lose deliveries: retry them under the normal schedule
        opts.log.warn({ destination: lane.d.name, err: String(err) }, 'destination send threw')
        sent = jobs.map(() => ({ kind: 'retry', code: 'E_DESTINATION', message: String(err).slice(0, 300) }))
      } finally {
        await stopBeating()
      }
      sent.forEach((o, k) => {
        outcomes[sentIndex[k]] = o
      })
    }
    const t = now()
    const records: AttemptRecord[] = []
    let health = lane.health
    batch.forEach((job, i) => {
      const o = outcomes[i]
      const next = nextState(o, job.delivery.attempts, lane.d.policy, t)
      const attempt: Omit<Attempt, 'id'> = {
        deliveryId: job.delivery.id,
        n: job.delivery.attempts + 1,
        startedAt: started,
        outcome: o.kind,
        code: o.code,
        message: o.message?.slice(0, 1000),
        exchange: o.exchange,
      }
      records.push({ deliveryId: job.delivery.id, leaseToken: job.leaseToken, attempt, next })
      opts.metrics.attempts.inc({ destination: lane.d.name, outcome: o.kind })
      if (o.kind !== 'delivered')
        opts.metrics.errors.inc({ destination: lane.d.name, code: o.code ?? o.kind.toUpperCase() })
      if (o.exchange)
        opts.metrics.requestLatency.observe({ destination: lane.d.name }, o.exchange.latencyMs / 1000)
      if (next.status === 'delivered') {
        opts.metrics.deliveries.inc({ destination: lane.d.name, status: 'delivered' })
        const labels = { destination: lane.d.name, signal: job.signal.name.split(':')[0] }
        opts.metrics.latency.observe(labels, (t - job.signal.createdAt) / 1000)
        opts.metrics.conversionAge.observe(labels, Math.max(0, t / 1000 - job.signal.occurredAt))
      } else if (next.status === 'dead' || next.status === 'skipped')
        opts.metrics.deliveries.inc({ destination: lane.d.name, status: next.status })
      health = onResult(health, breakerResult(o), t, opts.breaker)
      if (o.kind === 'paused') health = pause(health, o.message ?? o.code ?? 'paused', t)
      // a Retry-After holds the whole destination (its other jobs would be refused alike), as long as the
      // policy allows: unclamped, a receiver answering `Retry-After: 31536000` stopped it for a year
      if ((o.kind === 'throttled' || o.kind === 'retry') && o.retryAfterMs)
        health = { ...health, notBefore: t + clampRetryAfter(o.retryAfterMs, lane.d.policy) }
    })
    await setHealth(lane, health)
    try {
      await opts.store.recordAttempts(records, t)
    } catch (err) {
      // the leases expire and the sweep re-sends with the same idempotency key: at-least-once holds
      opts.log.warn({ destination: lane.d.name, err: String(err) }, 'recording attempts failed')
    }
  }

  /** HTTP 5xx, timeouts and network errors say the destination is unwell; a 4xx says the payload is. */
  function breakerResult(o: Outcome): 'success' | 'failure' | 'neutral' {
    if (o.kind === 'delivered') return 'success'
    if (o.kind === 'retry') return 'failure'
    return 'neutral'
  }

  /** `closeloop_destination_available`: 1 while the lane may send (closed breaker, not paused), else 0. */
  function showAvailability(lane: Lane) {
    const h = lane.health
    opts.metrics.breaker.set({ destination: lane.d.name }, h.state === 'closed' && !h.paused ? 1 : 0)
  }

  async function setHealth(lane: Lane, health: Health) {
    const before = lane.health
    lane.health = health
    // a probe granted for an earlier opening is not this one's
    if (before.state !== health.state) lane.probeGranted = false
    showAvailability(lane)
    if (before.state !== health.state || Boolean(before.paused) !== Boolean(health.paused)) {
      opts.log.warn(
        { destination: lane.d.name, state: health.state, paused: health.paused?.reason },
        'destination health changed',
      )
      await opts.store.setDestinationState(lane.d.name, { ...health }, now()).catch(() => undefined)
    }
    if (health.state === 'open' || health.paused) await releaseQueued(lane)
  }

  /** Jobs waiting behind an open breaker go back to the store, where any node can take them later. */
  async function releaseQueued(lane: Lane) {
    const jobs = lane.queue.splice(0)
    lane.queued.clear()
    if (jobs.length)
      await opts.store
        .releaseLeases(
          jobs.map((j) => ({ deliveryId: j.delivery.id, token: j.leaseToken })),
          now(),
        )
        .catch(() => undefined)
  }

  /** Fires due timers, adopts other nodes' pauses and open breakers, then claims; true when more is due now. */
  async function sweep(): Promise<boolean> {
    const t = now()
    if (opts.fireTimers) {
      try {
        const r = await opts.fireTimers(t)
        enqueue(r.leased)
      } catch (err) {
        opts.log.warn({ err: String(err) }, 'firing timers failed')
      }
    }
    for (const lane of lanes.values()) {
      // another node (or an operator through the API) may have paused or resumed it
      const stored = await storedHealth(lane)
      if (stored && Boolean(stored.paused) !== Boolean(lane.health.paused))
        lane.health = { ...lane.health, paused: stored.paused }
      // a breaker another node opened more recently holds here too: every node stops hammering a failing endpoint
      if (
        stored?.state === 'open' &&
        (stored.openedAt ?? 0) > (lane.health.openedAt ?? 0) &&
        lane.health.state === 'closed'
      )
        lane.health = { ...lane.health, state: 'open', openedAt: stored.openedAt, failures: stored.failures }
    }
    return claim(t)
  }

  /**
   * Claims due work for the lanes that can send and have room; true when more is waiting. Between sweeps
   * this alone runs on a wake-up (`claimSoon`): a busy node is woken by every batch the others ingest, and
   * a full sweep (timers, shared destination state, next due time) each time cost five more statements.
   */
  async function claim(t = now()): Promise<boolean> {
    const available: string[] = []
    let limit = 0
    for (const lane of lanes.values()) {
      if (admits(lane.health, t, opts.breaker) === 'wait') continue
      // A lane more than half full has enough to send. Topping it up at every wake-up cost a round trip per
      // few rows: two nodes, woken by each other's commits, claimed ~10 rows a time. It claims again as soon
      // as it has drained to half, not a whole interval later.
      if (drainedToHalf(lane)) {
        available.push(lane.d.name)
        limit = Math.max(limit, room(lane))
      } else lane.full = true
    }
    if (available.length === 0) return false
    limit = Math.min(limit, CLAIM_LIMIT)
    const claimed = await opts.store.claimDeliveries({
      token: leaseToken(),
      now: t,
      leaseMs: opts.leaseMs,
      limit,
      destinations: available,
    })
    enqueue(claimed)
    // a full claim means more is due now: go again instead of waiting a whole interval
    return claimed.length === limit
  }

  /** Jobs a lane can still take into memory. */
  function room(lane: Lane): number {
    return queueCap(lane.d) - lane.queue.length
  }

  /** Room for at least half its queue: the point at which a lane claims more. */
  function drainedToHalf(lane: Lane): boolean {
    return room(lane) >= queueCap(lane.d) / 2
  }

  /** The destination's health as another node (or the API) last stored it; undefined if unknown or unreadable. */
  function storedHealth(lane: Lane): Promise<Health | undefined> {
    return opts.store.getDestinationState(lane.d.name).then(
      (s) => s as Health | undefined,
      () => undefined,
    )
  }

  function claimSoon() {
    if (!running) return
    if (claiming || sweeping) {
      claimAgain = true
      return
    }
    claiming = (async () => {
      do {
        claimAgain = false
        const more = await claim().catch((err) => {
          opts.log.warn({ err: String(err) }, 'claim failed')
          return false
        })
        if (more) claimAgain = true
      } while (claimAgain && running)
    })().finally(() => {
      claiming = undefined
    })
  }

  function schedule(delayMs: number) {
    if (!running) return
    if (sweepTimer) clearTimeout(sweepTimer)
    sweepTimer = setTimeout(runSweep, delayMs)
    sweepTimer.unref?.()
  }

  async function runSweep() {
    if (!running || sweeping) return
    let more = false
    sweeping = sweep()
      .then((m) => {
        more = m
      })
      .catch((err) => opts.log.warn({ err: String(err) }, 'sweep failed'))
      .finally(() => {
        sweeping = undefined
      })
    await sweeping
    if (claimAgain) claimSoon() // woken while the sweep ran
    let delay = more ? 0 : opts.sweepIntervalMs
    const due = more ? undefined : await opts.store.nextDue(names).catch(() => undefined)
    // work due in the future wakes us on time (timers fire within ms of their due time); overdue work
    // that this sweep could not take (breaker open, paused) waits a whole interval, or we would spin
    if (due !== undefined && due > now()) delay = Math.min(delay, due - now())
    schedule(delay)
  }

  return {
    enqueue,
    leaseToken,
    /** New pending work for these destinations (not leased to us): claim now. */
    wake(_destinations: string[]) {
      claimSoon()
    },
    start() {
      running = true
      schedule(0)
    },
    /** Stop taking work, let in-flight requests finish (up to `graceMs`), give queued leases back. */
    async stop(graceMs = 10_000) {
      running = false
      if (sweepTimer) clearTimeout(sweepTimer)
      for (const lane of lanes.values()) if (lane.wakeTimer) clearTimeout(lane.wakeTimer)
      if (sweeping) await sweeping
      if (claiming) await claiming
      const deadline = new Promise((r) => setTimeout(r, graceMs).unref?.())
      await Promise.race([Promise.allSettled([...inFlight]), deadline])
      for (const lane of lanes.values()) await releaseQueued(lane)
    },
    /**
     * Destinations that would send right now and have room for `need` more jobs (a request's items): the
     * hot path leases deliveries only for these; the rest stay pending for any node's sweep. Room for one
     * leased a whole batch of 100 to a full lane, which then held them while idle nodes could not.
     */
    available(need = 1): Set<string> {
      const t = now()
      const out = new Set<string>()
      for (const lane of lanes.values())
        if (admits(lane.health, t, opts.breaker) === 'send' && room(lane) >= need) out.add(lane.d.name)
      return out
    },
    /** Load persisted health (a pause survives a restart). */
    async restore() {
      for (const lane of lanes.values()) {
        const stored = (await opts.store.getDestinationState(lane.d.name)) as Health | undefined
        if (stored) lane.health = { ...initialHealth(), paused: stored.paused }
        // from the start, not from the first send: a destination paused before a restart sends nothing, and
        // its series was missing where operators alert on `== 0`
        showAvailability(lane)
      }
    },
    health(name: string): Health | undefined {
      return lanes.get(name)?.health
    },
    async resume(name: string) {
      const lane = lanes.get(name)
      if (!lane) return false
      await setHealth(lane, resume(lane.health))
      await opts.store.setDestinationState(name, { ...lane.health }, now())
      schedule(0)
      return true
    },
    lanes: () =>
      [...lanes.values()].map((l) => ({
        name: l.d.name,
        queued: l.queue.length,
        inFlight: l.inFlight,
        health: l.health,
      })),
  }
}

export type Engine = ReturnType<typeof createEngine>
