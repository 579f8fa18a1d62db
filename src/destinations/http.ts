/**
 * Outbound HTTP for destinations: one undici pool per destination, a per-request timeout, no redirects
 * (a 3xx is a failure and would otherwise be an SSRF hole), an SSRF guard checked at connect time, and an
 * `Exchange` record with secrets redacted for the attempt log.
 *
 * @example
 *   const http = createHttpClient({ allowPrivate: false })
 *   const res = await http.request({ method: 'GET', url: 'https://net.example/pb?x=1', timeoutMs: 10_000 })
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { isIP } from 'node:net'
import { Agent } from 'undici'
import type { Exchange, Outcome } from '../model/signal.ts'
import { isPrivateAddress } from './ssrf.ts'

export interface HttpRequest {
  method: string
  url: string
  headers?: Record<string, string>
  body?: string
  timeoutMs: number
  /** Values (tokens, keys) to replace with `[redacted]` in the recorded exchange. */
  secrets?: string[]
}

export interface HttpResponse {
  exchange: Exchange
  status?: number
  headers: Record<string, string>
  body: string
}

export interface HttpClient {
  request(req: HttpRequest): Promise<HttpResponse>
  close(): Promise<void>
}

/** Recorded response bodies are cut here (Svix stores 20,000 bytes; attempts are many, so less). */
const RESPONSE_EXCERPT = 4096
/** Recorded request bodies are cut here: enough for a batch summary, bounded row size. */
const REQUEST_EXCERPT = 16384
/** Reads of a response body stop here; receivers that stream megabytes must not exhaust memory. */
const RESPONSE_MAX = 1 << 20

export function createHttpClient(opts: { allowPrivate: boolean; connections?: number }): HttpClient {
  const agent = new Agent({
    // keep-alive pools: the hot path must not pay a TCP handshake per conversion
    connections: opts.connections ?? 16,
    keepAliveTimeout: 30_000,
    connect: opts.allowPrivate ? {} : { lookup: guardedLookup },
  })

  async function request(req: HttpRequest): Promise<HttpResponse> {
    const started = performance.now()
    const redact = (s: string) => redactSecrets(s, req.secrets)
    const exchange: Exchange = {
      method: req.method,
      url: redact(req.url),
      headers: redactHeaders(req.headers ?? {}, req.secrets),
      body: req.body === undefined ? undefined : redact(req.body.slice(0, REQUEST_EXCERPT)),
      latencyMs: 0,
    }
    const url = new URL(req.url)
    if (
      !opts.allowPrivate &&
      isIP(stripBrackets(url.hostname)) &&
      isPrivateAddress(stripBrackets(url.hostname))
    ) {
      exchange.error = `E_SSRF: ${url.hostname} is a private or loopback address (set allow_private: true)`
      exchange.latencyMs = performance.now() - started
      return { exchange, headers: {}, body: '' }
    }
    try {
      const res = await agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: req.method as 'GET',
        headers: req.headers,
        body: req.body,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
        signal: AbortSignal.timeout(req.timeoutMs),
      })
      const body = await readCapped(res.body)
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = String(v)
      exchange.status = res.statusCode
      exchange.response = redact(body.slice(0, RESPONSE_EXCERPT))
      exchange.latencyMs = performance.now() - started
      return { exchange, status: res.statusCode, headers, body }
    } catch (err) {
      exchange.error = describeNetworkError(err)
      exchange.latencyMs = performance.now() - started
      return { exchange, headers: {}, body: '' }
    }
  }

  return { request, close: () => agent.close() }
}

function guardedLookup(
  hostname: string,
  options: object,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, [])
    const list = addresses as LookupAddress[]
    const blocked = list.find((a) => isPrivateAddress(a.address))
    if (blocked) {
      const e: NodeJS.ErrnoException = new Error(
        `E_SSRF: ${hostname} resolves to private address ${blocked.address} (set allow_private: true)`,
      )
      e.code = 'E_SSRF'
      return callback(e, [])
    }
    const wantsAll = (options as { all?: boolean }).all
    if (wantsAll) return callback(null, list)
    callback(null, list[0].address, list[0].family)
  })
}

async function readCapped(
  body: AsyncIterable<Buffer | Uint8Array> & { destroy?: () => void },
): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > RESPONSE_MAX) {
      body.destroy?.()
      break
    }
    chunks.push(Buffer.from(chunk))
  }
  return Buffer.concat(chunks).toString('utf8')
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as NodeJS.ErrnoException).code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code
  if (err.name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
    return 'E_TIMEOUT: no response in time'
  const causeMsg = err.cause instanceof Error ? err.cause.message : ''
  if (causeMsg.startsWith('E_SSRF') || err.message.startsWith('E_SSRF')) return causeMsg || err.message
  return `E_NETWORK: ${code ?? err.name}: ${err.message}`
}

const stripBrackets = (h: string) => (h.startsWith('[') ? h.slice(1, -1) : h)

export function redactSecrets(text: string, secrets: string[] = []): string {
  let out = text
  for (const s of secrets) {
    if (!s || s.length < 4) continue
    out = out.split(s).join('[redacted]')
    const enc = encodeURIComponent(s)
    if (enc !== s) out = out.split(enc).join('[redacted]')
  }
  return out
}

const SECRET_HEADERS =
  /^(authorization|x-api-key|api-key|developer-token|x-goog-api-key|cookie|proxy-authorization)$/i

function redactHeaders(headers: Record<string, string>, secrets?: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers))
    out[k] = SECRET_HEADERS.test(k) ? '[redacted]' : redactSecrets(v, secrets)
  return out
}

/**
 * The generic HTTP outcome rule (delivery-reliability.md §6): 2xx delivered; 408, 425, 429, 5xx and
 * network errors retried; 401, 403 and 410 pause the destination; other statuses (3xx included) are permanent.
 * Destinations with platform error tables classify first and fall back to this.
 */
export function classifyHttp(res: HttpResponse, now: number): Outcome {
  const { exchange, status } = res
  if (status === undefined) {
    const ssrf = exchange.error?.startsWith('E_SSRF')
    return {
      kind: ssrf ? 'permanent' : 'retry',
      exchange,
      code: ssrf ? 'E_SSRF' : exchange.error?.startsWith('E_TIMEOUT') ? 'TIMEOUT' : 'NETWORK',
      message: exchange.error,
    }
  }
  if (status >= 200 && status < 300) return { kind: 'delivered', exchange, code: `HTTP_${status}` }
  const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now)
  if (status === 429)
    return { kind: 'throttled', exchange, code: 'HTTP_429', message: 'rate limited', retryAfterMs }
  if (status === 408 || status === 425 || status >= 500)
    return { kind: 'retry', exchange, code: `HTTP_${status}`, message: `HTTP ${status}`, retryAfterMs }
  if (status === 410) return { kind: 'paused', exchange, code: 'HTTP_410', message: 'endpoint gone (410)' }
  // credentials refused: every conversion would fail alike until someone fixes them, so the destination is
  // paused and its deliveries wait, rather than each being dead-lettered (delivery-reliability.md §6)
  if (status === 401 || status === 403)
    return { kind: 'paused', exchange, code: `HTTP_${status}`, message: `credentials refused (${status})` }
  return { kind: 'permanent', exchange, code: `HTTP_${status}`, message: `HTTP ${status}` }
}

/**
 * Where a receiver with no test flag of its own (a postback, a webhook, an ECAPI partner) is sent to: `url`,
 * or in test mode (`send-test`, `test_mode: true`) its `test_url`. Test mode without one sends nothing
 * (`<prefix>_TEST_URL_MISSING`, permanent), since a test at the live URL counts as a real conversion, and
 * pays out.
 *
 * @example targetUrl({ url: 'https://n.example/pb' }, { testMode: true }, 'POSTBACK') // { refused: { code: 'POSTBACK_TEST_URL_MISSING', … } }
 */
export function targetUrl(
  config: { url: string; test_url?: string; test_mode?: boolean },
  ctx: { testMode: boolean },
  prefix: string,
): { url: string; test: boolean } | { refused: Outcome } {
  const test = ctx.testMode || config.test_mode === true
  if (!test) return { url: config.url, test }
  if (config.test_url) return { url: config.test_url, test }
  return {
    refused: {
      kind: 'permanent',
      code: `${prefix}_TEST_URL_MISSING`,
      message: 'test mode needs test_url (the receiver’s test endpoint) in this destination',
    },
  }
}

/** `Retry-After` is delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined
  const secs = Number(value)
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
