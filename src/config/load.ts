/**
 * Loading configuration: YAML → `${ENV}` interpolation → defaults → schema validation, with every error
 * naming its dotted path and what was expected (`destinations.meta.pixel_id: required`).
 *
 * A destination or source whose settings reference an unset variable is *disabled*, not an error: the example
 * config must start on a fresh machine with no variables set. API keys with unset variables are dropped.
 * An unset variable anywhere else is an error naming the field: dropped silently, it fell back to a default
 * (`consent.default` to granted, a missing `store.sqlite` to PostgreSQL) or left a site key empty, so every
 * browser click answered 500. Secrets are never part of a message.
 *
 * @example
 *   const { config, errors } = loadConfig(text, process.env, { destinations: registry, sources })
 */
import { readFileSync } from 'node:fs'
import { Type as T, type TObject, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parse as parseYaml } from 'yaml'
import { LEASE_MARGIN_MS } from '../delivery/engine.ts'
import { whsecProblem } from '../destinations/webhook/index.ts'
import { toE164 } from '../identity/phone.ts'
import { validTimeZone } from '../model/time-zone.ts'
import { pointerToDotted, validator } from '../model/validate.ts'
import { type CallRules, compileCallRules } from '../pipeline/calls/index.ts'
import { compileRoutes, type Route } from '../pipeline/route.ts'
import { compileAllowList } from '../sources/common.ts'
import { RootConfig } from './schema.ts'

export interface Definition {
  configSchema: TObject
  secrets?: string[]
  /** Cross-field checks; each message starts with the field name (`secret: required …`). */
  check?: (config: never) => string[]
  /** A destination type's defaults: its `timeoutMs` is checked against `delivery.lease_s`. */
  defaults?: { timeoutMs: number }
}

export interface Plugin<C = Record<string, unknown>> {
  name: string
  type: string
  enabled: boolean
  /** Why it is disabled, e.g. `META_TOKEN is not set`. */
  disabledReason?: string
  config: C
}

export interface ResolvedConfig extends Omit<RootConfig, 'sources' | 'destinations' | 'routes'> {
  sources: Record<string, Plugin>
  destinations: Record<string, Plugin>
  routes: Route[]
  /** Campaigns, dispositions and call rules, compiled (shipped defaults where unset). */
  callRules: CallRules
  /** Every secret value, to redact from logs and traces. */
  secrets: string[]
}

export interface LoadResult {
  config?: ResolvedConfig
  errors: string[]
  warnings: string[]
}

interface Registries {
  destinations: Record<string, Definition>
  sources: Record<string, Definition>
}

/** What an unset variable may switch off instead of failing the config: a destination, a source, an API key. */
const OPTIONAL_BY_VARIABLE = /^(destinations|sources)\.[^.]+(\.|$)|^api_keys\.\d+(\.|$)/

/** Settings every destination understands (CommonDestinationConfig). */
export const CommonDestination = T.Object({
  type: T.String(),
  enabled: T.Optional(T.Boolean()),
  allow_private: T.Optional(T.Boolean()),
  base_url: T.Optional(T.String({ pattern: '^https?://' })),
  token_url: T.Optional(T.String({ pattern: '^https?://' })),
  batch_size: T.Optional(T.Integer({ minimum: 1, maximum: 10_000 })),
  concurrency: T.Optional(T.Integer({ minimum: 1, maximum: 256 })),
  timeout_ms: T.Optional(T.Integer({ minimum: 100, maximum: 300_000 })),
  test_mode: T.Optional(T.Boolean()),
  retry_schedule_s: T.Optional(T.Array(T.Number({ minimum: 0 }))),
  /** Requests per second to this destination (token bucket); unset = unlimited. */
  rate_per_s: T.Optional(T.Number({ exclusiveMinimum: 0 })),
})

export const CommonSource = T.Object({
  type: T.String(),
  enabled: T.Optional(T.Boolean()),
  data_set_id: T.Optional(T.String({ minLength: 1 })),
  /** Region for numbers without a country code (ISO 3166 alpha-2). */
  default_region: T.Optional(T.String({ pattern: '^[A-Z]{2}$' })),
  allow_ips: T.Optional(T.Array(T.String())),
})

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv, registries: Registries): LoadResult {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    return {
      errors: [`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`],
      warnings: [],
    }
  }
  return loadConfig(text, env, registries)
}

/**
 * `trust_proxy: true` believes every `X-Forwarded-For` hop, so the client's own first entry becomes the
 * request's address: an `allow_ips` list would then let anyone in (a security review did, with one header).
 * Proxy addresses must parse, as fastify would otherwise throw at start.
 */
function trustProxyProblems(trust: boolean | number | string[], sources: Record<string, Plugin>): string[] {
  if (Array.isArray(trust))
    return compileAllowList(trust).invalid.map((e) => `server.trust_proxy: "${e}" is not an address or CIDR`)
  if (trust !== true) return []
  return Object.entries(sources)
    .filter(([, s]) => s.enabled && ((s.config as { allow_ips?: string[] }).allow_ips?.length ?? 0) > 0)
    .map(
      ([name]) =>
        `sources.${name}.allow_ips: cannot be enforced with server.trust_proxy: true, which believes an ` +
        'X-Forwarded-For the client writes; set trust_proxy to the number of proxies in front (e.g. 1) or their addresses',
    )
}

/**
 * A request must end inside its lease: the engine renews leases while a send runs, but if a renewal fails, a
 * sweep (of any node) claims a job whose lease ran out mid-request and sends it again — a postback counted
 * twice. So every enabled destination's timeout, set or its type's default, stays LEASE_MARGIN_MS below it.
 */
function leaseProblems(
  leaseS: number,
  destinations: Record<string, Plugin>,
  definitions: Record<string, Definition>,
): string[] {
  const problems: string[] = []
  for (const d of Object.values(destinations)) {
    if (!d.enabled) continue
    const set = (d.config as { timeout_ms?: number }).timeout_ms
    const timeoutMs = set ?? definitions[d.type]?.defaults?.timeoutMs
    if (timeoutMs === undefined || leaseS * 1000 >= timeoutMs + LEASE_MARGIN_MS) continue
    problems.push(
      `destinations.${d.name}.timeout_ms: ${set === undefined ? `the ${d.type} default of ` : ''}${timeoutMs} ms ` +
        `must be at least ${LEASE_MARGIN_MS / 1000} s below delivery.lease_s (${leaseS} s), or a slow answer ` +
        'can outlive its lease and be sent twice; lower timeout_ms or raise delivery.lease_s',
    )
  }
  return problems
}

/**
 * A tracking number belongs to one pool: the call join reads one `dni:<number>` fact per number, while each
 * pool locks and assigns on its own, so a number in two pools can be held by two visitors at once and the call
 * goes to whichever was assigned last. A `default_number` (shown to anyone, attributed to no one) must not be a
 * pool number either. Numbers compare as E.164, the way a call's tracking number is read.
 */
function dniPoolProblems(pools: Record<string, { numbers: string[]; default_number?: string }>): string[] {
  const problems: string[] = []
  const norm = (n: string) => toE164(n) ?? n
  const pooledAt = new Map<string, { pool: string; path: string }>()
  for (const [name, pool] of Object.entries(pools))
    pool.numbers.forEach((n, i) => {
      const path = `attribution.dni.pools.${name}.numbers.${i}`
      const seen = pooledAt.get(norm(n))
      if (!seen) pooledAt.set(norm(n), { pool: name, path })
      else if (seen.pool !== name)
        problems.push(
          `${path}: ${n} is already in pool ${seen.pool} (${seen.path}); a number can be in one pool only, ` +
            'or two visitors can hold it at once and its calls go to the wrong one',
        )
    })
  for (const [name, pool] of Object.entries(pools)) {
    const seen = pool.default_number ? pooledAt.get(norm(pool.default_number)) : undefined
    if (seen)
      problems.push(
        `attribution.dni.pools.${name}.default_number: ${pool.default_number} is a pool number (${seen.path}); ` +
          'the default number is shown to anyone when the pool is exhausted, so it cannot be held by one visitor',
      )
  }
  return problems
}

export function loadConfig(text: string, env: NodeJS.ProcessEnv, registries: Registries): LoadResult {
  const errors: string[] = []
  const warnings: string[] = []
  let raw: unknown
  try {
    raw = parseYaml(text) ?? {}
  } catch (err) {
    return { errors: [`(yaml): ${(err as Error).message.split('\n')[0]}`], warnings }
  }
  if (typeof raw !== 'object' || Array.isArray(raw))
    return { errors: ['(root): expected a mapping'], warnings }

  const missing = new Map<string, string[]>() // dotted path → unset variable names
  const interpolated = interpolate(raw, env, [], missing) as Record<string, unknown>
  for (const [path, vars] of missing)
    if (!OPTIONAL_BY_VARIABLE.test(path))
      errors.push(`${path}: ${vars.join(', ')} not set (use \${VAR:-default} for a default)`)
  // strings from ${VAR} become numbers/booleans where the schema wants them
  const root = Value.Convert(RootConfig, Value.Default(RootConfig, Value.Clone(interpolated))) as Record<
    string,
    unknown
  >
  for (const d of validator(RootConfig)(root)) {
    const where = pointerToDotted(d.path)
    if (![...missing.keys()].some((m) => m === where || m.startsWith(`${where}.`)))
      errors.push(`${where}: ${d.message}`)
  }
  if (errors.length) return { errors, warnings }
  const base = root as unknown as RootConfig

  const disabledBy = (prefix: string) => {
    const vars = [...missing]
      .filter(([p]) => p === prefix || p.startsWith(`${prefix}.`))
      .flatMap(([, v]) => v)
    return vars.length ? `${[...new Set(vars)].join(', ')} not set` : undefined
  }

  const secrets: string[] = []
  const resolvePlugins = (kind: 'destinations' | 'sources', common: TObject) => {
    const out: Record<string, Plugin> = {}
    for (const [name, cfg] of Object.entries(base[kind])) {
      const path = `${kind}.${name}`
      const def = registries[kind][cfg.type]
      if (!def) {
        const known = Object.keys(registries[kind]).sort().join(', ')
        errors.push(
          `${path}.type: unknown ${kind.slice(0, -1)} type "${cfg.type}" (expected one of: ${known})`,
        )
        continue
      }
      const envReason = disabledBy(path)
      // read as the schema reads it: `enabled: "${X_ENABLED}"` with X_ENABLED=false is off (it stayed on)
      const explicitOff = Value.Convert(T.Boolean(), (cfg as { enabled?: unknown }).enabled) === false
      if (envReason || explicitOff) {
        out[name] = {
          name,
          type: cfg.type,
          enabled: false,
          disabledReason: envReason ?? 'enabled: false',
          config: cfg,
        }
        if (envReason) warnings.push(`${path}: disabled (${envReason})`)
        continue
      }
      const schema = mergeSchemas(common, def.configSchema)
      const withDefaults = Value.Convert(schema, Value.Default(schema, Value.Clone(cfg))) as Record<
        string,
        unknown
      >
      const problems = validator(schema)(withDefaults)
      for (const d of problems) errors.push(`${pointerToDotted(d.path, path)}: ${d.message}`)
      if (problems.length) continue
      const crossField = def.check?.(withDefaults as never) ?? []
      for (const m of crossField) errors.push(`${path}.${m}`)
      if (crossField.length) continue
      for (const s of def.secrets ?? [])
        if (typeof withDefaults[s] === 'string') secrets.push(withDefaults[s])
      out[name] = { name, type: cfg.type, enabled: true, config: withDefaults }
    }
    return out
  }
  const destinations = resolvePlugins('destinations', CommonDestination)
  errors.push(...leaseProblems(base.delivery.lease_s, destinations, registries.destinations))
  const sources = resolvePlugins('sources', CommonSource)

  const apiKeys = base.api_keys.filter((k, i) => {
    const reason = disabledBy(`api_keys.${i}`)
    if (reason) warnings.push(`api_keys.${i} (${k.name}): ignored (${reason})`)
    return !reason
  })
  for (const k of apiKeys) secrets.push(k.key)

  const compiled = compileRoutes(base.routes)
  for (const e of compiled.errors) errors.push(e)
  base.routes.forEach((r, i) => {
    r.to.forEach((dest, j) => {
      if (!(dest in base.destinations)) errors.push(`routes.${i}.to.${j}: unknown destination "${dest}"`)
    })
  })
  const calls = compileCallRules({
    campaigns: base.campaigns,
    dispositions: base.dispositions,
    calls: base.calls,
  })
  for (const e of calls.errors) errors.push(e)
  base.observe.alerts.forEach((a, i) => {
    if (a.format === 'standard_webhooks' && !a.secret)
      errors.push(`observe.alerts.${i}.secret: required for format standard_webhooks (whsec_…)`)
    const weak = a.secret ? whsecProblem(a.secret) : undefined
    if (weak) errors.push(`observe.alerts.${i}.secret: ${weak}`)
    // a Slack webhook's URL is its credential
    secrets.push(...(a.format === 'slack' ? [a.url] : []), ...(a.secret ? [a.secret] : []))
  })
  errors.push(...trustProxyProblems(base.server.trust_proxy, sources))
  errors.push(...dniPoolProblems(base.attribution.dni.pools))
  if (!validTimeZone(base.observe.timezone))
    errors.push(`observe.timezone: unknown IANA time zone "${base.observe.timezone}"`)
  if (errors.length) return { errors, warnings }

  return {
    config: {
      ...base,
      api_keys: apiKeys,
      sources,
      destinations,
      routes: compiled.routes,
      callRules: calls.rules,
      secrets,
    },
    errors,
    warnings,
  }
}

function mergeSchemas(common: TObject, specific: TObject): TSchema {
  return T.Object({ ...common.properties, ...specific.properties }, { additionalProperties: false })
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** Replace `${VAR}` / `${VAR:-default}` in every string of the parsed tree (never in the YAML text). */
function interpolate(
  node: unknown,
  env: NodeJS.ProcessEnv,
  path: string[],
  missing: Map<string, string[]>,
): unknown {
  if (typeof node === 'string') {
    const unset: string[] = []
    const whole = /^\$\{[^}]+\}$/.test(node)
    const out = node.replace(VAR, (_m, name: string, fallback: string | undefined) => {
      const v = env[name]
      if (v !== undefined && v !== '') return v
      if (fallback !== undefined) return fallback
      unset.push(name)
      return ''
    })
    if (unset.length) {
      missing.set(path.join('.'), unset)
      return whole ? undefined : out
    }
    return out
  }
  if (Array.isArray(node)) return node.map((v, i) => interpolate(v, env, [...path, String(i)], missing))
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) {
      const r = interpolate(v, env, [...path, k], missing)
      if (r !== undefined) out[k] = r
    }
    return out
  }
  return node
}
