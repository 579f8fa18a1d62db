/**
 * Starts a real closeloop app on an ephemeral loopback port with a throwaway SQLite file.
 *
 * @example
 *   const app = await startApp(yaml`destinations: { pb: { type: postback, url: ${url}, allow_private: true } }`)
 *   await app.post('/v1/events', event); await app.close()
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type App, createApp } from '../../src/app.ts'
import { readConfig } from '../../src/config/index.ts'
import type { Store } from '../../src/store/types.ts'

export const API_KEY = 'test-key-0123456789'

export interface TestApp {
  app: App
  url: string
  dir: string
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestResponse>
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<TestResponse>
  get(path: string): Promise<TestResponse>
  close(): Promise<void>
}

export interface TestResponse {
  status: number
  headers: Headers
  body: unknown
  text: string
}

/**
 * Config text (YAML) is appended to a base with an API key, a temp store and fast sweeps; `store` (e.g. a
 * PostgreSQL store shared by several apps) replaces the temp SQLite file.
 */
export async function startApp(
  configYaml: string,
  opts: { env?: NodeJS.ProcessEnv; keepDir?: string; store?: Store } = {},
) {
  const dir = opts.keepDir ?? mkdtempSync(join(tmpdir(), 'closeloop-test-'))
  const base = `
store: { sqlite: ${join(dir, 'closeloop.db')} }
api_keys: [{ name: test, key: ${API_KEY} }]
log: { level: silent }
`
  const hasDelivery = /^delivery:/m.test(configYaml)
  const text = `${base}${hasDelivery ? '' : 'delivery: { sweep_interval_ms: 50 }\n'}${configYaml}`
  const { config, errors } = readConfig(text, opts.env ?? {})
  if (!config) throw new Error(`config errors:\n${errors.join('\n')}`)
  const app = await createApp({ config, store: opts.store })
  const port = await app.listen(0, '127.0.0.1')
  const url = `http://127.0.0.1:${port}`
  const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    httpRequest(url, method, path, body, headers)
  const t: TestApp = {
    app,
    url,
    dir,
    request,
    post: (path, body, headers) => request('POST', path, body, headers),
    get: (path) => request('GET', path),
    async close() {
      await app.close()
      if (!opts.keepDir) rmSync(dir, { recursive: true, force: true })
    },
  }
  return t
}

/** One request with the test API key; JSON bodies are sent and parsed as JSON. */
export async function httpRequest(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<TestResponse> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${API_KEY}`,
      ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed, text }
}

/** Polls until `check` returns a truthy value (real timers), or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 5000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v as NonNullable<T>
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

let counter = 0
/** A valid ECAPI event with a unique id. */
export function ecapiEvent(over: Record<string, unknown> = {}) {
  counter++
  return {
    data_set_id: 'acme',
    id: `evt-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`,
    timestamp: Math.floor(Date.now() / 1000),
    event_type: 'purchase',
    value: 120,
    currency_code: 'USD',
    // a website purchase stays a plain ECAPI signal; phone-call outcomes follow the call rules
    source: 'website',
    ...over,
  }
}

/**
 * Waits, if need be, until no midnight of these zones is less than `marginMs` away: a test that ingests
 * now and then asserts on today's report must not see its events split across two days.
 */
export async function clearOfMidnight(zones: string[], marginMs = 30_000): Promise<void> {
  for (;;) {
    const soon = zones.some((tz) => {
      const day = (ms: number) => new Intl.DateTimeFormat('en-CA', { timeZone: tz }).format(new Date(ms))
      return day(Date.now()) !== day(Date.now() + marginMs)
    })
    if (!soon) return
    await new Promise((r) => setTimeout(r, 1_000))
  }
}
