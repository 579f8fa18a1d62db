/**
 * Google Ads API error table (reference google.md §3.5 and §3.7): each `GoogleAdsError` is classified by its
 * `errorCode` (`{ conversionUploadError: 'TOO_RECENT_EVENT' }`), mapped to its row through
 * `location.fieldPathElements[fieldName=conversions].index`, and the most severe class per row wins.
 *
 * @example
 *   classifyAdsError({ errorCode: { conversionUploadError: 'ORDER_ID_ALREADY_IN_USE' } }).kind // 'delivered'
 *   rowOutcomes(3, response, 'conversions')  // one class per row
 */
import type { OutcomeKind } from '../../model/signal.ts'
import { detailsOfType, type RpcStatus } from '../google/common.ts'

/** Google's documented wait before a too-recent click / call / action can be uploaded: 6 hours. */
export const TOO_RECENT_DELAY_MS = 6 * 3600_000

export interface AdsErrorClass {
  kind: OutcomeKind
  code: string
  message: string
  fixedDelayMs?: number
}

/** Already recorded: the upload is idempotent, a retry that hits these succeeded earlier. */
const ALREADY_DONE = new Set([
  'CLICK_CONVERSION_ALREADY_EXISTS',
  'CALL_CONVERSION_ALREADY_EXISTS',
  'ORDER_ID_ALREADY_IN_USE',
  'RESTATEMENT_ALREADY_EXISTS',
  'CONVERSION_ALREADY_RETRACTED',
])
/** Accepted but unmatched ("you can safely ignore this warning"). */
const WARNINGS = new Set(['CLICK_NOT_FOUND'])
const TOO_RECENT = new Set([
  'TOO_RECENT_EVENT',
  'TOO_RECENT_CALL',
  'TOO_RECENT_CONVERSION_ACTION',
  'TOO_RECENT_CONVERSION',
])
/** Account configuration only the tenant can fix: pause the destination and alert. */
const CONFIGURATION = new Set([
  'UNAUTHORIZED_CUSTOMER',
  'INVALID_CUSTOMER_FOR_CLICK',
  'INVALID_CUSTOMER_FOR_CALL',
  'NO_CONVERSION_ACTION_FOUND',
  'INVALID_CONVERSION_ACTION_TYPE',
  'CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS',
  'CUSTOMER_NOT_ENABLED_ENHANCED_CONVERSIONS_FOR_LEADS',
  'CUSTOMER_DATA_POLICY_PROHIBITS_ENHANCED_CONVERSIONS',
  'CUSTOMER_DATA_POLICY_PROHIBITS_ENHANCEMENT',
  'CONVERSION_TRACKING_NOT_ENABLED_AT_IMPRESSION_TIME',
  'CONVERSION_TRACKING_NOT_ENABLED_AT_CALL_TIME',
  'CUSTOM_VARIABLE_NOT_ENABLED',
  'CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE',
])
/** Our own batching produced them; a later, different batch goes through. */
const IN_REQUEST_DUPLICATES = new Set([
  'DUPLICATE_CLICK_CONVERSION_IN_REQUEST',
  'DUPLICATE_CALL_CONVERSION_IN_REQUEST',
  'DUPLICATE_ORDER_ID',
  'DUPLICATE_ADJUSTMENT_IN_REQUEST',
])
/** Authentication errors fixed by a fresh access token rather than by the tenant. */
const TOKEN_ERRORS = new Set(['OAUTH_TOKEN_INVALID', 'OAUTH_TOKEN_EXPIRED', 'OAUTH_TOKEN_HEADER_INVALID'])

export interface GoogleAdsError {
  errorCode?: Record<string, string>
  message?: string
  location?: { fieldPathElements?: { fieldName?: string; index?: number }[] }
}

/**
 * One error's class, by family and name.
 *
 * @example classifyAdsError({ errorCode: { databaseError: 'CONCURRENT_MODIFICATION' } }).kind // 'retry'
 */
export function classifyAdsError(error: GoogleAdsError): AdsErrorClass {
  const [family, name] = Object.entries(error.errorCode ?? {})[0] ?? ['unknown', 'UNKNOWN']
  const code = `GOOGLE_ADS_${name}`
  const message = `${family}.${name}${error.message ? `: ${error.message}` : ''}`
  if (ALREADY_DONE.has(name)) return { kind: 'delivered', code, message }
  if (WARNINGS.has(name)) return { kind: 'delivered', code, message }
  if (TOO_RECENT.has(name)) return { kind: 'retry', code, message, fixedDelayMs: TOO_RECENT_DELAY_MS }
  if (CONFIGURATION.has(name)) return { kind: 'paused', code, message }
  if (IN_REQUEST_DUPLICATES.has(name)) return { kind: 'retry', code, message }
  if (family === 'quotaError') return { kind: 'throttled', code, message }
  if (family === 'databaseError' && name === 'CONCURRENT_MODIFICATION')
    return { kind: 'retry', code, message }
  if (family === 'internalError') return { kind: 'retry', code, message }
  if (family === 'authenticationError' && TOKEN_ERRORS.has(name)) return { kind: 'paused', code, message }
  if (family === 'authenticationError' || family === 'authorizationError')
    return { kind: 'paused', code, message }
  return { kind: 'permanent', code, message }
}

/** Severity order: a row keeps its worst class (a row that is both already-done and invalid is invalid). */
const SEVERITY: Record<OutcomeKind, number> = {
  skipped: 0,
  delivered: 0,
  retry: 1,
  throttled: 2,
  permanent: 3,
  paused: 4,
}
const worse = (a: AdsErrorClass | undefined, b: AdsErrorClass): AdsErrorClass => {
  if (!a) return b
  const rank = (c: AdsErrorClass) => SEVERITY[c.kind] * 2 + (c.fixedDelayMs ? 1 : 0)
  return rank(b) > rank(a) ? b : a
}

/** Every `GoogleAdsError` inside a `google.rpc.Status`. */
export function adsErrors(status: RpcStatus | undefined): GoogleAdsError[] {
  return detailsOfType(status, 'GoogleAdsFailure').flatMap((d) =>
    Array.isArray(d.errors) ? (d.errors as GoogleAdsError[]) : [],
  )
}

/** The `requestId` Google support asks for. */
export const adsRequestId = (status: RpcStatus | undefined): string | undefined => {
  const id = detailsOfType(status, 'GoogleAdsFailure')[0]?.requestId
  return typeof id === 'string' ? id : undefined
}

/** The row an error points at, or undefined when it concerns the whole request. */
export function errorRow(error: GoogleAdsError, rowField: string): number | undefined {
  const el = error.location?.fieldPathElements?.find((e) => e.fieldName === rowField)
  return typeof el?.index === 'number' ? el.index : undefined
}

/**
 * Per-row classes from a partial-failure response: rows start as success, each error marks its row (or every
 * row when it has no index), the worst class wins; a row whose `results[i]` is empty without an error is
 * not trusted as delivered (Google's contract says it must have one).
 *
 * @example rowClasses(2, { results: [{}, { gclid: 'x' }], partialFailureError }, 'conversions')
 */
export function rowClasses(
  rows: number,
  body: { results?: Record<string, unknown>[]; partialFailureError?: RpcStatus },
  rowField: string,
  validateOnly: boolean,
): (AdsErrorClass | undefined)[] {
  const out: (AdsErrorClass | undefined)[] = new Array(rows).fill(undefined)
  const pf = body.partialFailureError
  if (pf && pf.code !== 0) {
    for (const error of adsErrors(pf)) {
      const cls = classifyAdsError(error)
      const row = errorRow(error, rowField)
      if (row === undefined) for (let i = 0; i < rows; i++) out[i] = worse(out[i], cls)
      else if (row < rows) out[row] = worse(out[row], cls)
    }
  }
  // validate_only responses carry no results; otherwise an empty result means the row was not recorded.
  if (!validateOnly && Array.isArray(body.results))
    for (let i = 0; i < rows; i++)
      if (!out[i] && (!body.results[i] || Object.keys(body.results[i]).length === 0))
        out[i] = {
          kind: 'retry',
          code: 'GOOGLE_ADS_ROW_UNCONFIRMED',
          message: 'empty result without an error',
        }
  return out
}
