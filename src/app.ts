/**
 * The composition root: config → store → destinations → delivery engine → pipeline → HTTP server.
 * The only module that knows every other; stages never import each other sideways.
 *
 * @example
 *   const app = await createApp({ config }); await app.listen(); …; await app.close()
 */
import { randomBytes } from 'node:crypto'
import pino, { type Logger } from 'pino'
import type { ResolvedConfig } from './config/load.ts'
import { createEngine, type EngineDestination } from './delivery/engine.ts'
import type { CommonDestinationConfig, DestinationContext } from './destinations/contract.ts'
import { createHttpClient, type HttpClient } from './destinations/http.ts'
import { DESTINATIONS } from './destinations/registry.ts'
import { addressBudget } from './http/address-budget.ts'
import { unauthenticatedBody } from './http/auth.ts'
import type { HttpDeps } from './http/deps.ts'
import { registerClickRoutes } from './http/routes/clicks.ts'
import { registerEventRoutes } from './http/routes/events.ts'
import { registerOperationRoutes } from './http/routes/operations.ts'
import { registerPrivacyRoutes } from './http/routes/privacy.ts'
import { registerReportRoutes } from './http/routes/reports.ts'
import { registerSourceRoutes } from './http/routes/sources.ts'
import { createServer } from './http/server.ts'
import { claimInStore, createAlerts } from './observe/alerts.ts'
import { watchMatchRates } from './observe/match-watch.ts'
import { createMetrics } from './observe/metrics.ts'
import { matchRateReport } from './observe/report.ts'
import { createTallyCache } from './observe/tally-cache.ts'
import { fireCallTimer, timerJourneyKey } from './pipeline/calls/index.ts'
import type { PipelineConfig } from './pipeline/ecapi.ts'
import { startRetention } from './privacy/retention.ts'
import { openStore } from './store/open.ts'
import type { IngestRequest, Store } from './store/types.ts'

export interface AppOptions {
  config: ResolvedConfig
  /** Use this store instead of opening the configured one (tests). */
  store?: Store
  logger?: Logger
  now?: () => number
}

export async function createApp(opts: AppOptions) {
  const { config } = opts
  const now = opts.now ?? Date.now
  const log =
    opts.logger ??
    pino({
      level: config.log.level,
      // raw PII and secrets never reach the log: bodies are not logged and these paths are censored
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', '*.access_token', '*.secret'],
        censor: '[redacted]',
      },
    })
  const store = opts.store ?? (await openStore(config.store ?? { sqlite: './data/closeloop.db' }))
  try {
    await prepareSchema(store, config.store)
  } catch (err) {
    // a store opened here is this app's to close: its pool and timers must not outlive a refused start
    if (!opts.store) await store.close()
    throw err
  }
  const metrics = createMetrics({ writes: () => store.writes() })
  // 60 stored refusals at once per sender address, then one a second: a sender fixing its credentials is seen
  const refusals = addressBudget({ burst: 60, perSecond: 1 })
  /** Signals derived (by name, `disposition:Sale` as `disposition`) and holdbacks, by ingest or by a timer. */
  const countDerived = (signalNames: string[], holdbacks: string[] = []) => {
    for (const name of signalNames) metrics.signals.inc({ signal: name.split(':')[0] })
    for (const reason of holdbacks) metrics.holdbacks.inc({ reason })
  }
  const token = `node_${randomBytes(8).toString('hex')}`

  const clients: HttpClient[] = []
  /** The alert receivers' clients: the SSRF guard for each unless it says allow_private. */
  const alertClients = new Map<boolean, HttpClient>()
  function alertHttp(allowPrivate: boolean): HttpClient {
    let http = alertClients.get(allowPrivate)
    if (!http) {
      http = createHttpClient({ allowPrivate, connections: 2 })
      alertClients.set(allowPrivate, http)
      clients.push(http)
    }
    return http
  }
  const engineDestinations: EngineDestination[] = []
  for (const plugin of Object.values(config.destinations)) {
    if (!plugin.enabled) continue
    const def = DESTINATIONS[plugin.type]
    const cfg = plugin.config as CommonDestinationConfig & Record<string, unknown>
    const concurrency = cfg.concurrency ?? def.defaults.concurrency
    const http = createHttpClient({ allowPrivate: cfg.allow_private === true, connections: concurrency })
    clients.push(http)
    const ctx: DestinationContext = {
      http,
      testMode: cfg.test_mode === true,
      now,
      log: log.child({ destination: plugin.name }),
    }
    engineDestinations.push({
      name: plugin.name,
      audience: def.audience ?? 'partner',
      destination: def.create(plugin.name, cfg as never),
      batchSize: cfg.batch_size ?? def.defaults.batchSize,
      concurrency,
      timeoutMs: cfg.timeout_ms ?? def.defaults.timeoutMs,
      ...(cfg.rate_per_s ? { ratePerS: cfg.rate_per_s } : {}),
      policy: {
        scheduleS: (cfg.retry_schedule_s as number[] | undefined) ?? config.delivery.retry_schedule_s,
        jitter: config.delivery.jitter,
        maxRetryAfterS: config.delivery.max_retry_after_s,
      },
      ctx,
    })
  }

  const pipeline: PipelineConfig = {
    routes: config.routes,
    activeDestinations: new Set(engineDestinations.map((d) => d.name)),
    consentDefault: config.consent.default,
    consentOptions: {
      sensitiveData: config.consent.sensitive_data,
      malformedGpp: config.consent.malformed_gpp,
      tcfVendorIds: config.consent.tcf_vendor_ids,
    },
    writeLegacyNames: config.callRules.writeLegacyNames,
  }

  const leaseMs = config.delivery.lease_s * 1000
  const engine = createEngine({
    store,
    destinations: engineDestinations,
    breaker: {
      failures: config.delivery.breaker.failures,
      cooldownMs: config.delivery.breaker.cooldown_s * 1000,
    },
    leaseMs,
    sweepIntervalMs: config.delivery.sweep_interval_ms,
    token,
    metrics,
    log,
    now,
    // durable timers (qualified-call floors) fire here, in the same sweep that claims retries
    fireTimers: (t) =>
      store.fireTimers({
        token,
        now: t,
        limit: 200,
        fire: (timer, ctx) => {
          // a live qualified_call comes from a timer, not from an ingest: counted here, or never. (A
          // transaction the store runs again after a failure could count one twice; ingest avoids that
          // by counting outcomes, which a timer's result does not list.)
          const d = fireCallTimer(timer, ctx, config.callRules, pipeline)
          countDerived(
            d.signals.map((s) => s.signal.name),
            d.holdbacks,
          )
          return d
        },
        journeyKey: timerJourneyKey,
        lease: { token: engine.leaseToken(), untilMs: t + leaseMs, destinations: engine.available() },
      }),
  })
  await engine.restore()
  // another node's new work wakes this node's engine at once instead of at its next sweep
  const stopWake = store.onWake?.((destinations) => engine.wake(destinations))

  let storeReady = true
  // the match-rate checks and reports share the settled hours' tallies
  const matchTallies = createTallyCache(store)
  const deps: HttpDeps = {
    config,
    store,
    engine,
    metrics,
    log,
    pipeline,
    callRules: config.callRules,
    apiKeys: config.api_keys.map((k) => k.key),
    async ingest(raw, items, result?: IngestRequest['result']) {
      const t = now()
      // what derive decided, seen on its way to the store, for the attribution counters after the commit. A
      // store may derive an item more than once (a transaction run again), so only the derivation of the
      // event that was stored counts
      const attributions = new Map<string, string>()
      const observed = items.map((item) => ({
        ...item,
        derive(ctx: Parameters<typeof item.derive>[0]) {
          const d = item.derive(ctx)
          if (d.attribution) attributions.set(ctx.eventId, d.attribution)
          return d
        },
      }))
      const res = await store.ingest(
        {
          raw,
          items: observed,
          result,
          lease: {
            token: engine.leaseToken(),
            untilMs: t + leaseMs,
            destinations: engine.available(items.length),
          },
        },
        t,
      )
      for (const o of res.outcomes) {
        const method = attributions.get(o.eventId)
        if (method) metrics.attributions.inc({ method })
      }
      engine.enqueue(res.leased)
      if (res.pendingDestinations.length) engine.wake(res.pendingDestinations)
      countDerived(
        res.outcomes.flatMap((o) => o.signals.map((s) => s.name)),
        res.holdbacks,
      )
      return res
    },
    // refused before anyone was authenticated: kept short (auth.ts) and within a budget per sender
    async recordRefusal(raw, from) {
      // a flood past its rate limit (429) is budgeted as well: storing each refusal would be the flood's work
      if (!(raw.status === 401 || raw.status === 403 || raw.status === 404 || raw.status === 429))
        return store.recordRaw(raw)
      if (!refusals.take(from, raw.receivedAt)) {
        metrics.refusalsUnrecorded.inc()
        return
      }
      return store.recordRaw({ ...raw, body: unauthenticatedBody(raw.body) })
    },
    matchRate: (now) => matchRateReport(store, config.observe.match_rate, now, matchTallies),
    ready: () => storeReady,
  }

  const server = createServer({
    bodyLimit: config.server.body_limit_bytes,
    logger: log,
    trustProxy: config.server.trust_proxy,
  })
  registerEventRoutes(server, deps)
  registerOperationRoutes(server, deps)
  registerSourceRoutes(server, deps)
  registerClickRoutes(server, deps)
  registerPrivacyRoutes(server, deps)
  registerReportRoutes(server, deps)
  engine.start()
  const stopRetention = startRetention(
    store,
    { ...config.retention, phone_region: config.callRules.defaultRegion },
    log,
  )
  const alerts = createAlerts({
    targets: config.observe.alerts,
    http: alertHttp,
    log,
    claim: claimInStore(store),
  })
  const matchRates =
    config.observe.match_rate.check_every_s > 0
      ? watchMatchRates({
          report: deps.matchRate,
          cfg: config.observe.match_rate,
          metrics,
          log,
          notify: (change, check) =>
            alerts.matchRate(change, check, { drop: config.observe.match_rate.drop }),
        })
      : undefined

  return {
    server,
    store,
    engine,
    config,
    deps,
    log,
    /** The match-rate alert's checks (undefined when `observe.match_rate.check_every_s` is 0). */
    matchRates,
    setReady(ready: boolean) {
      storeReady = ready
    },
    async listen(port = config.server.port, host = config.server.host) {
      await server.listen({ port, host })
      const addr = server.server.address()
      return typeof addr === 'object' && addr ? addr.port : port
    },
    /** Graceful: stop accepting, finish or release in-flight deliveries, close the store. */
    async close() {
      await server.close()
      stopWake?.()
      await engine.stop()
      await stopRetention()
      await matchRates?.stop()
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)))
      await store.close()
    },
  }
}

export type App = Awaited<ReturnType<typeof createApp>>

/**
 * Migrations run at start unless the PostgreSQL store says `migrate: false` (they run as a release step,
 * `closeloop migrate`, before new nodes start). Then a node refuses to start on a schema it does not know yet.
 */
async function prepareSchema(store: Store, cfg: ResolvedConfig['store']) {
  if (!(cfg && 'postgres' in cfg && cfg.migrate === false)) return store.migrate()
  const pending = await store.pendingMigrations()
  if (pending.length)
    throw new Error(
      `the database schema is behind this build (pending migrations: ${pending.join(', ')}): run \`closeloop migrate\` first, or drop \`migrate: false\``,
    )
}
