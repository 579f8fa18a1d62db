/**
 * What retention and deletion do to each kind of stored row, as pure functions over decoded column values,
 * so the SQLite and PostgreSQL stores run exactly the same redaction and differ only in their SQL.
 *
 * @example
 *   const next = scrubRaw({ body, contentType, headers, result }, eventsOfThisRaw)
 *   // UPDATE raw_inputs SET body = next.body, headers = next.headers, result = next.result …
 */
import { type Redactor, redactor, type Subject } from './redact.ts'

export interface RawColumns {
  body: string
  contentType?: string | null
  headers: unknown
  result: unknown
}

/**
 * A raw input: the body as received (JSON, form, query string, request URL; else replaced by a note), its
 * headers (user agent and forwarded-for removed) and the per-event report. `events` are the canonical
 * events read from it: the caller they hold in E.164 finds the same number in whatever format the body has.
 *
 * @example scrubRaw({ body: 'From=%2B12125550000', headers: {}, result: null }, []).body // 'From=7c8d08bf…'
 */
export function scrubRaw(row: RawColumns, events: unknown[], subject?: Subject, region?: string): RawColumns {
  // in a long batch each element is redacted on its own (redact.ts), with the canonical event read from it
  const byId = new Map<unknown, unknown>()
  for (const e of events) if (typeof e === 'object' && e !== null && 'id' in e) byId.set(e.id, e)
  const r = redactor({
    context: [row.body, row.headers, row.result, events],
    subject,
    region,
    scope: (element) => (byId.has(element.id) ? [byId.get(element.id)] : []),
  })
  return {
    body: r.rawBody(row.body, row.contentType ?? undefined),
    contentType: row.contentType,
    headers: r.json(row.headers),
    result: row.result === null || row.result === undefined ? row.result : r.json(row.result),
  }
}

/**
 * A JSON document (event, signal, journey state, fact value, timer payload), with optional context.
 *
 * @example scrubDoc({ user_data: { event_ip_address: '203.0.113.7' } }) // { user_data: {} }
 */
export function scrubDoc(doc: unknown, context: unknown[] = [], subject?: Subject, region?: string): unknown {
  return redactor({ context: [doc, ...context], subject, region }).json(doc)
}

export interface AttemptColumns {
  exchange: unknown
  message: string | null
  /** The delivery's `last_error`, usually the newest attempt's message. */
  lastError: string | null
}

/**
 * An attempt: the exchange (URL, body, response of the request sent), its message and the delivery's last
 * error, knowing the signal that was sent (a postback URL carries `{caller}` from it).
 *
 * @example scrubAttempt({ exchange: { url: 'https://n.test/?c=%2B12125550000' }, message: null, lastError: null }, sig)
 */
export function scrubAttempt(
  row: AttemptColumns,
  signal: unknown,
  subject?: Subject,
  region?: string,
): AttemptColumns {
  const r: Redactor = redactor({ context: [row.exchange, signal], subject, region })
  return {
    exchange: row.exchange === null || row.exchange === undefined ? row.exchange : r.json(row.exchange),
    message: row.message === null ? null : r.text(row.message),
    lastError: row.lastError === null ? null : r.text(row.lastError),
  }
}

/**
 * Whether any of `texts` mentions the subject (deletion touches only such rows).
 *
 * @example mentions(subject, ['{"caller":"+12125550000"}']) // true for subjectOf({ phone: '2125550000' })
 */
export function mentions(subject: Subject, texts: Array<string | null | undefined>): boolean {
  const r = redactor({ context: [], subject })
  return texts.some((t) => typeof t === 'string' && r.mentions(t))
}
