/**
 * The configuration schema. Type-specific destination and source settings are validated by the schema each
 * destination or source definition carries; this file holds everything else.
 * docs/configuration.md documents every field.
 */
import { type Static, Type as T } from '@sinclair/typebox'

const Seconds = T.Number({ minimum: 0 })

export const ServerConfig = T.Object(
  {
    port: T.Integer({ minimum: 0, maximum: 65535, default: 8787 }),
    host: T.String({ default: '0.0.0.0' }),
    /** 1 MiB: ECAPI batches of 1,000 small events fit; larger bodies are refused with 413. */
    body_limit_bytes: T.Integer({ minimum: 1024, default: 1_048_576 }),
    max_batch_events: T.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
    /** Public base URL (https://calls.example.com) for signature checks behind proxies. */
    public_url: T.Optional(T.String()),
    /**
     * Whose `X-Forwarded-*` to believe: `false`; the number of proxies in front (1 behind one nginx); their
     * addresses or CIDRs; or `true`, every hop, which lets any client choose its address (refused with
     * `allow_ips`, load.ts).
     */
    trust_proxy: T.Union(
      [
        T.Boolean(),
        T.Integer({ minimum: 1, maximum: 16 }),
        T.Array(T.String({ minLength: 1 }), { minItems: 1 }),
      ],
      { default: false },
    ),
  },
  { additionalProperties: false },
)

export const StoreConfig = T.Union([
  T.Object({ sqlite: T.String({ minLength: 1 }) }, { additionalProperties: false }),
  T.Object(
    {
      postgres: T.String({ minLength: 1 }),
      pool_size: T.Optional(T.Integer({ minimum: 1, maximum: 200 })),
      migrate: T.Optional(T.Boolean()),
      /** Attempt records wait for the WAL flush too (store/postgres/index.ts has the trade-off). */
      durable_attempt_records: T.Optional(T.Boolean()),
    },
    { additionalProperties: false },
  ),
])

export const ApiKey = T.Object(
  { name: T.String({ minLength: 1 }), key: T.String({ minLength: 8 }) },
  { additionalProperties: false },
)

export const DeliveryConfig = T.Object(
  {
    /** Svix's schedule (delivery-reliability.md §2): ~27.6 h over 8 attempts. */
    retry_schedule_s: T.Array(Seconds, { minItems: 0, default: [5, 300, 1800, 7200, 18000, 36000, 36000] }),
    /** ±20 % as Svix: spreads retries of a failed burst. */
    jitter: T.Number({ minimum: 0, maximum: 1, default: 0.2 }),
    /** How long a node owns a delivery; renewed while its request runs, and ≥ every timeout_ms + 2 s (load.ts). */
    lease_s: T.Number({ minimum: 1, default: 60 }),
    /** How often scheduled retries and expired leases are looked for; the hot path never waits on this. */
    sweep_interval_ms: T.Integer({ minimum: 10, maximum: 3_600_000, default: 1000 }),
    breaker: T.Object(
      {
        /** Consecutive failures that open the breaker. */
        failures: T.Integer({ minimum: 1, default: 5 }),
        /** How long it stays open before one half-open probe. */
        cooldown_s: T.Number({ minimum: 0, maximum: 86_400, default: 30 }),
      },
      { default: {} },
    ),
    /** Retry-After is clamped to at most this (a receiver must not park deliveries for days). */
    max_retry_after_s: T.Number({ minimum: 0, maximum: 7 * 86_400, default: 3600 }),
  },
  { additionalProperties: false, default: {} },
)

export const RouteConfig = T.Object(
  {
    signals: T.Array(T.String({ minLength: 1 }), { minItems: 1 }),
    to: T.Array(T.String({ minLength: 1 }), { minItems: 1 }),
    /** Conditions that must all hold, e.g. `value > 0`, `source == phone_call`. */
    when: T.Optional(T.Union([T.String(), T.Array(T.String())])),
  },
  { additionalProperties: false },
)

export const ConsentConfig = T.Object(
  {
    default: T.Union([T.Literal('granted'), T.Literal('denied')], { default: 'granted' }),
    /** US sensitive-data categories without consent: a reason only, or an opt-out (health verticals). */
    sensitive_data: T.Union([T.Literal('record'), T.Literal('restrict')], { default: 'record' }),
    /** An unreadable GPP string: no PII (fail closed), or the default policy. */
    malformed_gpp: T.Union([T.Literal('deny'), T.Literal('default')], { default: 'deny' }),
    /** TCF Global Vendor List ids per audience for the vendor-consent check (Google's is 755). */
    tcf_vendor_ids: T.Object(
      {
        google: T.Optional(T.Integer({ minimum: 1 })),
        meta: T.Optional(T.Integer({ minimum: 1 })),
        partner: T.Optional(T.Integer({ minimum: 1 })),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
)

export const DniPool = T.Object(
  {
    /** Tracking numbers of the pool (E.164). */
    numbers: T.Array(T.String({ pattern: '^\\+[1-9][0-9]{6,14}$' }), { minItems: 1 }),
    /** How long a number stays with a visitor after the last request: calls inside it are attributed. */
    hold_minutes: T.Number({ minimum: 1, default: 30 }),
    /** Shown when every number is held (counted as exhausted); calls to it are not attributed by DNI. */
    default_number: T.Optional(T.String({ pattern: '^\\+[1-9][0-9]{6,14}$' })),
    /**
     * Numbers one sender address may hold at once; past it a new visitor from there gets the default
     * number. Unset = no cap: homes, offices and mobile carriers put many people behind one address.
     */
    max_holds_per_address: T.Optional(T.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
)

export const AttributionConfig = T.Object(
  {
    /** Namespace of clicks and visitors (ECAPI data_set_id). */
    data_set_id: T.String({ minLength: 1, default: 'default' }),
    /** First touch wins for this long (Google's click window is 90 days). */
    click_ttl_days: T.Number({ minimum: 1, maximum: 540, default: 90 }),
    /**
     * Requests with a site key per sender address (IPv6: per /64): a burst, then `per_s`; past it 429. A site
     * key is public, so this is what stops one sender from flooding clicks or cycling the number pools.
     * `per_s: 0` = no limit. Server-to-server requests (API keys) are not limited.
     */
    browser_rate_limit: T.Object(
      {
        per_s: T.Number({ minimum: 0, default: 2 }),
        burst: T.Integer({ minimum: 1, default: 120 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Publishable keys for the browser tag (`/t.js`, `/v1/clicks`, `/v1/dni`), each bound to page origins. */
    site_keys: T.Array(
      T.Object(
        {
          name: T.String({ minLength: 1 }),
          key: T.String({ minLength: 8 }),
          origins: T.Array(T.String(), { minItems: 1 }),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    /** Dynamic number insertion: a pool of tracking numbers per campaign. */
    dni: T.Object(
      { pools: T.Record(T.String(), DniPool, { default: {} }) },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false, default: {} },
)

export const RootConfig = T.Object(
  {
    server: T.Object(ServerConfig.properties, { additionalProperties: false, default: {} }),
    store: T.Optional(StoreConfig),
    api_keys: T.Array(ApiKey, { default: [] }),
    consent: ConsentConfig,
    log: T.Object(
      {
        level: T.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => T.Literal(l)),
          {
            default: 'info',
          },
        ),
      },
      { default: {} },
    ),
    delivery: DeliveryConfig,
    sources: T.Record(T.String(), T.Object({ type: T.String() }, { additionalProperties: true }), {
      default: {},
    }),
    destinations: T.Record(T.String(), T.Object({ type: T.String() }, { additionalProperties: true }), {
      default: {},
    }),
    routes: T.Array(RouteConfig, { default: [] }),
    attribution: AttributionConfig,
    retention: T.Object(
      {
        /** Raw emails, phones, IPs and user agents are kept this long; 0 disables (docs/privacy.md). */
        raw_pii_days: T.Number({ minimum: 0, default: 30 }),
        /**
         * How often rows past the limit are looked for; the work is chunked, ingest never waits long. At most
         * a week: past Node's timer limit (~24.8 days) an interval becomes 1 ms, and retention ran nonstop.
         */
        interval_minutes: T.Number({ minimum: 1, maximum: 10_080, default: 60 }),
      },
      { additionalProperties: false, default: {} },
    ),
    observe: T.Object(
      {
        /** Where match-rate alerts are sent (alerts.ts): signed JSON webhooks or Slack incoming webhooks. */
        alerts: T.Array(
          T.Object(
            {
              url: T.String({ pattern: '^https?://', maxLength: 2048 }),
              format: T.Union([T.Literal('standard_webhooks'), T.Literal('slack')], {
                default: 'standard_webhooks',
              }),
              /** `whsec_` + base64 of 24+ random bytes (checked in load.ts), required for `standard_webhooks`. */
              secret: T.Optional(T.String({ pattern: '^whsec_' })),
              allow_private: T.Boolean({ default: false }),
            },
            { additionalProperties: false },
          ),
          { default: [], maxItems: 10 },
        ),
        /** IANA time zone of the reports' days (the ad accounts' zone, so the days match theirs). */
        timezone: T.String({ minLength: 1, maxLength: 64, default: 'UTC' }),
        /** The match-rate alert (docs/observability.md). */
        match_rate: T.Object(
          {
            /** The current window: the last so many hours. */
            window_hours: T.Integer({ minimum: 1, maximum: 24 * 31, default: 24 }),
            /** The baseline: so many days before the current window. */
            baseline_days: T.Integer({ minimum: 1, maximum: 60, default: 7 }),
            /** Fewer delivered conversions than this in either window: no alert. */
            min_deliveries: T.Integer({ minimum: 1, default: 20 }),
            /** Alert when the current rate is this far (0–1, absolute) below the baseline. */
            drop: T.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.15 }),
            /** How often the server checks; 0 turns the check (gauges and log lines) off. */
            check_every_s: T.Integer({ minimum: 0, maximum: 86_400, default: 600 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    campaigns: T.Optional(T.Record(T.String(), T.Object({}, { additionalProperties: true }))),
    dispositions: T.Optional(T.Record(T.String(), T.Object({}, { additionalProperties: true }))),
    /** Call rules beyond campaigns and dispositions (blocklist, spam patterns…): see pipeline/calls. */
    calls: T.Optional(T.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: false },
)

export type RootConfig = Static<typeof RootConfig>
export type DeliveryConfig = Static<typeof DeliveryConfig>
export type RouteConfig = Static<typeof RouteConfig>
export type AttributionConfig = Static<typeof AttributionConfig>
