/**
 * Data Manager error classification. The API is fast-fail: one bad event rejects the whole request, and the
 * error names a reason (`google.rpc.ErrorInfo.reason`, a `google.ads.datamanager.v1.ErrorReason`) and, for
 * field errors, the offending path (`google.rpc.BadRequest.fieldViolations[].field`, e.g. `events[3].currency`).
 * Pinpointed events are dead-lettered and the rest re-sent; anything else applies to the whole request.
 *
 * @example
 *   classifyDmError(400, body) // { kind: 'permanent', code: 'GOOGLE_DM_INVALID_CURRENCY_CODE', eventIndexes: [3] }
 */
import type { OutcomeKind } from '../../model/signal.ts'
import { detailsOfType, parseRpcError } from '../google/common.ts'

/** Reasons only the tenant can fix (account setup, terms, wrong ids): pause the destination and alert. */
const PAUSE_REASONS = new Set([
  'PERMISSION_DENIED',
  'TERMS_AND_CONDITIONS_NOT_SIGNED',
  'INVALID_DESTINATION',
  'INVALID_CONVERSION_ACTION_ID',
  'INVALID_CONVERSION_ACTION_TYPE',
  'DESTINATION_ACCOUNT_NOT_ENABLED_ENHANCED_CONVERSIONS_FOR_LEADS',
  'DESTINATION_ACCOUNT_DATA_POLICY_PROHIBITS_ENHANCED_CONVERSIONS',
  'DESTINATION_ACCOUNT_ENHANCED_CONVERSIONS_TERMS_NOT_SIGNED',
  'OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH',
  'DESTINATION_ACCOUNT_TYPE_MISMATCH',
  'NOT_ALLOWLISTED',
  'CUSTOM_VARIABLE_NOT_ENABLED',
  'ADVERTISER_TOS_NOT_ACCEPTED',
])
/** Google-side trouble worth retrying with backoff. */
const RETRY_REASONS = new Set(['INTERNAL_ERROR', 'DEADLINE_EXCEEDED'])

export interface DmErrorClass {
  kind: OutcomeKind
  code: string
  message: string
  /** Events the error points at (fast-fail: the others in the request were not processed either). */
  eventIndexes: number[]
  /** The API rejected the access token: refresh and try once more. */
  unauthenticated?: boolean
}

/**
 * Classify a non-2xx Data Manager response.
 *
 * @example classifyDmError(429, '{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}').kind // 'throttled'
 */
export function classifyDmError(status: number, body: string): DmErrorClass {
  const rpc = parseRpcError(body)
  const reasons = detailsOfType(rpc, 'google.rpc.ErrorInfo')
    .map((d) => d.reason)
    .filter((r): r is string => typeof r === 'string')
  const violations = detailsOfType(rpc, 'google.rpc.BadRequest').flatMap((d) =>
    Array.isArray(d.fieldViolations) ? (d.fieldViolations as Record<string, unknown>[]) : [],
  )
  for (const v of violations) if (typeof v.reason === 'string') reasons.push(v.reason)
  const eventIndexes = [
    ...new Set(
      violations
        .map((v) => /(?:^|\.)events\[(\d+)\]/.exec(String(v.field ?? ''))?.[1])
        .filter((i): i is string => i !== undefined)
        .map(Number),
    ),
  ].sort((a, b) => a - b)
  const grpc = rpc?.status ?? ''
  const reason =
    reasons.find((r) => r !== grpc && r !== 'INVALID_ARGUMENT') ?? reasons[0] ?? grpc ?? `HTTP_${status}`
  const detail = violations.map((v) => `${String(v.field ?? '')}: ${String(v.description ?? '')}`).join('; ')
  const message = [rpc?.message ?? `HTTP ${status}`, detail].filter(Boolean).join(' — ')
  const code = `GOOGLE_DM_${reason || `HTTP_${status}`}`

  if (status === 401 || grpc === 'UNAUTHENTICATED')
    return {
      kind: 'paused',
      code: 'GOOGLE_DM_UNAUTHENTICATED',
      message,
      eventIndexes: [],
      unauthenticated: true,
    }
  if (status === 429 || grpc === 'RESOURCE_EXHAUSTED' || reason === 'RESOURCE_EXHAUSTED')
    return { kind: 'throttled', code: 'GOOGLE_DM_RESOURCE_EXHAUSTED', message, eventIndexes: [] }
  if (status === 403 || grpc === 'PERMISSION_DENIED' || PAUSE_REASONS.has(reason))
    return { kind: 'paused', code, message, eventIndexes: [] }
  if (status >= 500 || RETRY_REASONS.has(reason) || grpc === 'UNAVAILABLE')
    return { kind: 'retry', code, message, eventIndexes: [] }
  return { kind: 'permanent', code, message, eventIndexes }
}
