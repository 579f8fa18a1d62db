/**
 * Cross-node wake-ups over LISTEN/NOTIFY. Writers that create work someone else may take (pending
 * deliveries at ingest, fired timers, released leases, replays) call `pg_notify('closeloop_wake',
 * '{"src":<store id>,"d":[destinations]}')` inside their transaction; PostgreSQL delivers it on COMMIT
 * only. Each store instance keeps one dedicated LISTEN connection (outside the pool) and passes the
 * destinations to its callbacks; its own notifications are skipped (ingest already returned them).
 *
 * Notifications are a latency optimization, never the source of truth: while the listener is
 * disconnected, notifications are lost, so after every (re)connect callbacks get `[]` meaning "anything may
 * have changed, sweep everything". The engine's sweep interval remains the backstop.
 */
import pg from 'pg'
import { WAKE_CHANNEL } from './ingest.ts'

export type WakeCallback = (destinations: string[]) => void

export interface WakeListener {
  add(cb: WakeCallback): () => void
  close(): Promise<void>
}

const RETRY_MIN_MS = 250 // first reconnect soon: most outages are a restart or a failover of a few seconds
const RETRY_MAX_MS = 10_000 // never hammer a server that is down; the sweep interval covers us meanwhile

export function createWakeListener(url: string, self: string): WakeListener {
  const callbacks = new Set<WakeCallback>()
  let client: pg.Client | undefined
  let closed = false
  let delay = RETRY_MIN_MS
  let retryTimer: NodeJS.Timeout | undefined
  let started = false

  const emit = (destinations: string[]) => {
    for (const cb of callbacks) {
      try {
        cb(destinations)
      } catch {
        // a listener's bug must not break delivery of wake-ups to the others
      }
    }
  }

  async function connect() {
    if (closed) return
    const c = new pg.Client({ connectionString: url, keepAlive: true, application_name: 'closeloop-wake' })
    client = c
    c.on('error', () => reconnect(c))
    c.on('end', () => reconnect(c))
    c.on('notification', (msg) => {
      if (msg.channel !== WAKE_CHANNEL || !msg.payload) return
      try {
        const body = JSON.parse(msg.payload) as { src?: string; d?: unknown }
        if (body.src === self || !Array.isArray(body.d)) return
        emit(body.d.filter((x): x is string => typeof x === 'string'))
      } catch {
        // not ours (someone else notifying on the channel): ignore
      }
    })
    try {
      await c.connect()
      await c.query(`LISTEN ${WAKE_CHANNEL}`)
      delay = RETRY_MIN_MS
      // notifications sent while we were away are gone: have everyone look for work once
      emit([])
    } catch {
      reconnect(c)
    }
  }

  function reconnect(c: pg.Client) {
    if (closed || client !== c || retryTimer) return
    client = undefined
    c.end().catch(() => undefined)
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      void connect()
    }, delay)
    retryTimer.unref()
    delay = Math.min(delay * 2, RETRY_MAX_MS)
  }

  return {
    add(cb) {
      callbacks.add(cb)
      if (!started) {
        started = true
        void connect()
      }
      return () => callbacks.delete(cb)
    },
    async close() {
      closed = true
      if (retryTimer) clearTimeout(retryTimer)
      const c = client
      client = undefined
      await c?.end().catch(() => undefined)
    },
  }
}
