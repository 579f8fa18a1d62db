/**
 * GA4 Measurement Protocol responses → closeloop outcomes.
 *
 * The live endpoint (`/mp/collect`) answers 2xx to almost anything, including malformed events and a wrong
 * `api_secret`, and drops them silently; only the validation server (`/debug/mp/collect`, used in test mode)
 * says what is wrong, as `{ "validationMessages": [{ fieldPath, description, validationCode }] }`.
 *
 * | response                                   | outcome                                                   |
 * |--------------------------------------------|-----------------------------------------------------------|
 * | live 2xx                                   | `delivered` (GA4 accepted the request; not a proof)       |
 * | debug 2xx, no validation messages          | `delivered` (`GA4_VALID`)                                 |
 * | debug 2xx with validation messages         | `permanent` `GA4_<validationCode>`, GA4's description     |
 * | 401, 403                                   | `paused` (credential or property access)                  |
 * | 429                                        | `throttled`, `Retry-After` honoured                       |
 * | 408, 425, 5xx, network, timeout            | `retry`                                                   |
 * | other 4xx, 3xx                             | `permanent`                                               |
 *
 * @example
 *   classifyGa4Response(res, Date.now(), { debug: true }).kind // 'permanent' when GA4 found problems
 */
import type { Outcome } from '../../model/signal.ts'
import { classifyHttp, type HttpResponse } from '../http.ts'

export interface ValidationMessage {
  fieldPath?: string
  description?: string
  validationCode?: string
}

/**
 * The validation server's messages, or undefined when the body is not its answer.
 *
 * @example parseValidationMessages('{"validationMessages":[]}') // []
 */
export function parseValidationMessages(body: string): ValidationMessage[] | undefined {
  try {
    const parsed = JSON.parse(body) as { validationMessages?: unknown }
    return Array.isArray(parsed.validationMessages)
      ? (parsed.validationMessages.filter((m) => m && typeof m === 'object') as ValidationMessage[])
      : undefined
  } catch {
    return undefined
  }
}

/**
 * One outcome for the request that produced `res` (see the table above).
 *
 * @example classifyGa4Response({ status: 204, … }, now, { debug: false }).kind // 'delivered'
 */
export function classifyGa4Response(res: HttpResponse, now: number, opts: { debug: boolean }): Outcome {
  const base = classifyHttp(res, now)
  if (res.status === 401 || res.status === 403)
    return { ...base, kind: 'paused', message: `GA4 refused the credential (HTTP ${res.status})` }
  if (base.kind !== 'delivered' || !opts.debug) return base
  const messages = parseValidationMessages(res.body)
  if (messages === undefined)
    // a debug answer we cannot read proves nothing; retrying costs nothing in test mode
    return {
      ...base,
      kind: 'retry',
      code: 'GA4_DEBUG_UNREADABLE',
      message: 'validation server answer is not JSON',
    }
  if (messages.length === 0) return { ...base, code: 'GA4_VALID', message: 'no validation messages' }
  const first = messages[0]
  return {
    kind: 'permanent',
    exchange: res.exchange,
    code: `GA4_${first.validationCode ?? 'VALIDATION'}`,
    message: messages
      .map((m) => `${m.fieldPath ? `${m.fieldPath}: ` : ''}${m.description ?? m.validationCode ?? 'invalid'}`)
      .join('; '),
  }
}
