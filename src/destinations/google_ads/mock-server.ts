/**
 * A faithful local Google Ads API for conversion uploads (`node:http` on 127.0.0.1:0), tests and `send-test`.
 *
 * Routes are read from the `google.api.http` rules of `ConversionUploadService` and
 * `ConversionAdjustmentUploadService` in `google-ads-node`'s protos; each body is checked against the
 * request message (unknown fields, types, enums, oneofs, REQUIRED, `customer_id` bound in the path), and each
 * response the mock writes is checked against the response message too. Headers: Bearer token from the mock
 * token server, `developer-token`, `login-customer-id` (10 digits) when the customer is reached through a
 * manager. Rows get Google's per-row semantics with `partialFailure`: `results[i]` empty for a failed row and a
 * `GoogleAdsFailure` whose errors point at `conversions[i]`.
 *
 * Row behaviour is driven by the data, so tests read like the scenario: a gclid starting `recent` →
 * `TOO_RECENT_EVENT`, `expired` → `EXPIRED_EVENT`, `busy` → `databaseError.CONCURRENT_MODIFICATION`; a repeated
 * `orderId` → `ORDER_ID_ALREADY_IN_USE`; unknown actions → `NO_CONVERSION_ACTION_FOUND`; callers in
 * `unknownCallers` → `CALL_NOT_FOUND`. Scripted request failures cover 429, 401, 403 and allowlisting.
 *
 * @example
 *   const ads = await startMockGoogleAds({ tokens: oauth, developerToken: 'dev', customerId: '1234567890', conversionActions: ['111'] })
 */
import { randomUUID } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import { checkMessage, loadProtoRoot, type RestRoute, restRoutes } from '../google/proto-json.ts'
import { listenLocal, readWholeBody } from '../testing/mock-http.ts'

const ROOT = loadProtoRoot('google-ads-node')
export const MOCK_ADS_VERSION = Object.keys(
  (ROOT.nested.google as { nested: { ads: { nested: { googleads: { nested: Record<string, unknown> } } } } })
    .nested.ads.nested.googleads.nested,
)[0]
const ROUTES: RestRoute[] = [
  ...restRoutes(ROOT, `google.ads.googleads.${MOCK_ADS_VERSION}.services.ConversionUploadService`),
  ...restRoutes(ROOT, `google.ads.googleads.${MOCK_ADS_VERSION}.services.ConversionAdjustmentUploadService`),
]
const FAILURE_TYPE = `type.googleapis.com/google.ads.googleads.${MOCK_ADS_VERSION}.errors.GoogleAdsFailure`
const ADS_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})([+-])(\d{2}):(\d{2})$/
const HEX64 = /^[0-9a-f]{64}$/

export interface MockGoogleAdsOptions {
  tokens: { isValid(token: string): boolean }
  developerToken: string
  customerId: string
  conversionActions: string[]
  /** Manager account that must be sent as `login-customer-id`. */
  loginCustomerId?: string
  unknownCallers?: string[]
}

export type AdsScriptedFailure = 'quota' | 'unauthenticated' | 'permission' | 'not_allowlisted' | 'two_step'

export interface MockGoogleAds {
  url: string
  received: {
    rpc: string
    headers: Record<string, string | string[] | undefined>
    body: unknown
    status: number
  }[]
  /** Recorded click conversions by `conversionAction|orderId`, and their adjustment history. */
  clicks: Map<string, { row: Record<string, unknown>; adjustments: string[] }>
  calls: Map<string, Record<string, unknown>>
  failNext(n: number, failure: AdsScriptedFailure): void
  close(): Promise<void>
}

type Obj = Record<string, unknown>
interface AdsError {
  errorCode: Record<string, string>
  message: string
  trigger?: { stringValue: string }
  location?: { fieldPathElements: { fieldName: string; index?: number }[] }
}

const rowError = (
  rowField: string,
  index: number,
  family: string,
  name: string,
  message: string,
  field?: string,
): AdsError => ({
  errorCode: { [family]: name },
  message,
  location: { fieldPathElements: [{ fieldName: rowField, index }, ...(field ? [{ fieldName: field }] : [])] },
})

const GRPC: Record<number, [number, string]> = {
  400: [3, 'INVALID_ARGUMENT'],
  401: [16, 'UNAUTHENTICATED'],
  403: [7, 'PERMISSION_DENIED'],
  404: [5, 'NOT_FOUND'],
  429: [8, 'RESOURCE_EXHAUSTED'],
}

function json(
  res: ServerResponse,
  status: number,
  body: object,
  requestId: string,
  extra: Record<string, string> = {},
) {
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'request-id': requestId,
    ...extra,
  })
  res.end(JSON.stringify(body))
}

function rpcFailure(
  res: ServerResponse,
  http: number,
  message: string,
  errors: AdsError[],
  requestId: string,
) {
  const [, status] = GRPC[http] ?? [2, 'UNKNOWN']
  const details = errors.length ? [{ '@type': FAILURE_TYPE, errors, requestId }] : []
  json(
    res,
    http,
    { error: { code: http, message, status, details } },
    requestId,
    http === 429 ? { 'retry-after': '60' } : {},
  )
}

/** Epoch ms of a Google Ads date-time, or NaN. */
function parseAdsDateTime(s: unknown): number {
  const m = typeof s === 'string' ? ADS_DATE_TIME.exec(s) : null
  if (!m) return Number.NaN
  const [, y, mo, d, h, mi, se, sign, oh, om] = m
  const local = Date.UTC(+y, +mo - 1, +d, +h, +mi, +se)
  return local - (sign === '-' ? -1 : 1) * (+oh * 60 + +om) * 60_000
}

export async function startMockGoogleAds(opts: MockGoogleAdsOptions): Promise<MockGoogleAds> {
  const received: MockGoogleAds['received'] = []
  const clicks: MockGoogleAds['clicks'] = new Map()
  const calls: MockGoogleAds['calls'] = new Map()
  const scripted: AdsScriptedFailure[] = []
  const actionId = (resource: unknown): string | undefined => {
    const m = /^customers\/(\d+)\/conversionActions\/(\d+)$/.exec(String(resource))
    return m && opts.conversionActions.includes(m[2]) ? m[2] : undefined
  }

  /** Per-row checks for uploadClickConversions; returns the row's errors. */
  function clickRow(row: Obj, i: number, seen: Set<string>, commit: boolean): AdsError[] {
    const errs: AdsError[] = []
    const e = (family: string, name: string, msg: string, field?: string) =>
      errs.push(rowError('conversions', i, family, name, msg, field))
    const action = actionId(row.conversionAction)
    if (!action)
      e(
        'conversionUploadError',
        'NO_CONVERSION_ACTION_FOUND',
        'The conversion action was not found.',
        'conversion_action',
      )
    const at = parseAdsDateTime(row.conversionDateTime)
    if (Number.isNaN(at))
      e(
        'dateError',
        'INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET',
        'Invalid date-time.',
        'conversion_date_time',
      )
    if (row.gbraid !== undefined && row.wbraid !== undefined)
      e('conversionUploadError', 'GBRAID_WBRAID_BOTH_SET', 'Set gbraid or wbraid, not both.')
    const ids = Array.isArray(row.userIdentifiers) ? (row.userIdentifiers as Obj[]) : []
    if (ids.length > 5) e('collectionSizeError', 'TOO_MANY', 'Too many user identifiers.', 'user_identifiers')
    ids.forEach((id) => {
      const hashed = id.hashedEmail ?? id.hashedPhoneNumber
      if (hashed === undefined)
        e(
          'conversionUploadError',
          'UNSUPPORTED_USER_IDENTIFIER',
          'Only hashed email and phone.',
          'user_identifiers',
        )
      else if (!HEX64.test(String(hashed)))
        e('conversionUploadError', 'INVALID_USER_IDENTIFIER', 'Not a SHA-256 hex digest.', 'user_identifiers')
    })
    const clickId = String(row.gclid ?? row.gbraid ?? row.wbraid ?? '')
    if (!clickId && ids.length === 0)
      e('conversionUploadError', 'INVALID_USER_IDENTIFIER', 'No click id or user identifier.')
    if (clickId.startsWith('recent'))
      e('conversionUploadError', 'TOO_RECENT_EVENT', 'The click is too recent.', 'gclid')
    if (clickId.startsWith('expired'))
      e('conversionUploadError', 'EXPIRED_EVENT', 'The click is too old.', 'gclid')
    if (clickId.startsWith('busy'))
      e('databaseError', 'CONCURRENT_MODIFICATION', 'Concurrent modification; retry.')
    const orderId = typeof row.orderId === 'string' ? row.orderId : undefined
    const key = `${action}|${orderId ?? `${clickId}|${String(row.conversionDateTime)}`}`
    if (errs.length === 0 && orderId && seen.has(key))
      e('conversionUploadError', 'DUPLICATE_ORDER_ID', 'Duplicate order id in the request.', 'order_id')
    else if (errs.length === 0 && clicks.has(key))
      e(
        'conversionUploadError',
        orderId ? 'ORDER_ID_ALREADY_IN_USE' : 'CLICK_CONVERSION_ALREADY_EXISTS',
        'Already recorded.',
        orderId ? 'order_id' : undefined,
      )
    seen.add(key)
    if (errs.length === 0 && commit) clicks.set(key, { row, adjustments: [] })
    return errs
  }

  function callRow(row: Obj, i: number, commit: boolean): AdsError[] {
    const errs: AdsError[] = []
    const e = (family: string, name: string, msg: string, field?: string) =>
      errs.push(rowError('conversions', i, family, name, msg, field))
    if (!actionId(row.conversionAction))
      e(
        'conversionUploadError',
        'NO_CONVERSION_ACTION_FOUND',
        'The conversion action was not found.',
        'conversion_action',
      )
    if (!/^\+[1-9]\d{6,14}$/.test(String(row.callerId)))
      e(
        'conversionUploadError',
        'UNPARSEABLE_CALLERS_PHONE_NUMBER',
        'Caller id is not parseable.',
        'caller_id',
      )
    const start = parseAdsDateTime(row.callStartDateTime)
    const at = parseAdsDateTime(row.conversionDateTime)
    if (Number.isNaN(start) || Number.isNaN(at))
      e('dateError', 'INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET', 'Invalid date-time.')
    else if (at < start)
      e('conversionUploadError', 'CONVERSION_PRECEDES_CALL', 'Conversion precedes the call.')
    if (opts.unknownCallers?.includes(String(row.callerId)))
      e('conversionUploadError', 'CALL_NOT_FOUND', 'The call was not found.', 'caller_id')
    const key = `${String(row.conversionAction)}|${String(row.callerId)}|${String(row.callStartDateTime)}|${String(row.conversionDateTime)}`
    if (errs.length === 0 && calls.has(key))
      e('conversionUploadError', 'CALL_CONVERSION_ALREADY_EXISTS', 'Already recorded.')
    if (errs.length === 0 && commit) calls.set(key, row)
    return errs
  }

  function adjustmentRow(row: Obj, i: number, commit: boolean): AdsError[] {
    const errs: AdsError[] = []
    const e = (name: string, msg: string, field?: string) =>
      errs.push(rowError('conversion_adjustments', i, 'conversionAdjustmentUploadError', name, msg, field))
    const action = actionId(row.conversionAction)
    if (!action) e('NO_CONVERSION_ACTION_FOUND', 'The conversion action was not found.', 'conversion_action')
    if (row.orderId !== undefined && row.gclidDateTimePair !== undefined)
      e('GCLID_DATE_TIME_PAIR_AND_ORDER_ID_BOTH_SET', 'Set orderId or gclidDateTimePair.')
    if (Number.isNaN(parseAdsDateTime(row.adjustmentDateTime)))
      errs.push(
        rowError(
          'conversion_adjustments',
          i,
          'dateError',
          'INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET',
          'Invalid date-time.',
        ),
      )
    if (row.adjustmentType === 'RESTATEMENT' && row.restatementValue === undefined)
      errs.push(
        rowError(
          'conversion_adjustments',
          i,
          'fieldError',
          'REQUIRED',
          'restatement_value is required.',
          'restatement_value',
        ),
      )
    if (row.adjustmentType === 'RETRACTION' && row.restatementValue !== undefined)
      errs.push(
        rowError(
          'conversion_adjustments',
          i,
          'fieldError',
          'VALUE_MUST_BE_UNSET',
          'No value on a retraction.',
          'restatement_value',
        ),
      )
    const original = clicks.get(`${action}|${String(row.orderId)}`)
    if (errs.length === 0 && !original)
      e('CONVERSION_NOT_FOUND', 'No conversion with this order id.', 'order_id')
    else if (errs.length === 0 && original?.adjustments.includes('RETRACTION'))
      e('CONVERSION_ALREADY_RETRACTED', 'The conversion was already retracted.')
    if (errs.length === 0 && commit) original?.adjustments.push(String(row.adjustmentType))
    return errs
  }

  const resultOf = (rpc: string, row: Obj): Obj => {
    if (rpc === 'UploadClickConversions') {
      const r: Obj = { conversionAction: row.conversionAction, conversionDateTime: row.conversionDateTime }
      for (const k of ['gclid', 'gbraid', 'wbraid', 'userIdentifiers'])
        if (row[k] !== undefined) r[k] = row[k]
      return r
    }
    if (rpc === 'UploadCallConversions')
      return {
        callerId: row.callerId,
        callStartDateTime: row.callStartDateTime,
        conversionAction: row.conversionAction,
        conversionDateTime: row.conversionDateTime,
      }
    return {
      orderId: row.orderId,
      conversionAction: row.conversionAction,
      adjustmentDateTime: row.adjustmentDateTime,
      adjustmentType: row.adjustmentType,
    }
  }

  const server = createServer(async (req, res) => {
    const raw = await readWholeBody(req)
    const requestId = randomUUID().replace(/-/g, '').slice(0, 22)
    const path = (req.url ?? '/').split('?')[0]
    const route = ROUTES.find((r) => r.httpMethod === req.method && r.pattern.test(path))
    let parsed: unknown
    const record = (status: number) =>
      received.push({ rpc: route?.rpc ?? path, headers: req.headers, body: parsed, status })
    if (!route) {
      record(404)
      return rpcFailure(res, 404, `Method not found (${path}).`, [], requestId)
    }
    const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))
    if (!auth || !opts.tokens.isValid(auth[1])) {
      record(401)
      return rpcFailure(
        res,
        401,
        'Request had invalid authentication credentials.',
        [{ errorCode: { authenticationError: 'OAUTH_TOKEN_INVALID' }, message: 'Oauth token is invalid.' }],
        requestId,
      )
    }
    if (req.headers['developer-token'] !== opts.developerToken) {
      record(401)
      return rpcFailure(
        res,
        401,
        'The developer token is not valid.',
        [
          {
            errorCode: { authenticationError: 'DEVELOPER_TOKEN_INVALID' },
            message: 'The developer token is not valid.',
          },
        ],
        requestId,
      )
    }
    const login = req.headers['login-customer-id']
    if (login !== undefined && !/^\d{10}$/.test(String(login))) {
      record(400)
      return rpcFailure(
        res,
        400,
        'Invalid login-customer-id.',
        [
          {
            errorCode: { requestError: 'INVALID_CUSTOMER_ID' },
            message: 'login-customer-id must be 10 digits, no hyphens.',
          },
        ],
        requestId,
      )
    }
    const customerId = route.pattern.exec(path)?.groups?.customer_id
    if (customerId !== opts.customerId || (opts.loginCustomerId && login !== opts.loginCustomerId)) {
      record(403)
      return rpcFailure(
        res,
        403,
        'The caller does not have permission',
        [
          {
            errorCode: { authorizationError: 'USER_PERMISSION_DENIED' },
            message: "User doesn't have permission to access customer.",
          },
        ],
        requestId,
      )
    }
    const failure = scripted.shift()
    if (failure) {
      const table: Record<AdsScriptedFailure, [number, string, string, string]> = {
        quota: [429, 'quotaError', 'RESOURCE_EXHAUSTED', 'Too many requests.'],
        unauthenticated: [401, 'authenticationError', 'OAUTH_TOKEN_EXPIRED', 'Oauth token expired.'],
        two_step: [
          401,
          'authenticationError',
          'TWO_STEP_VERIFICATION_NOT_ENROLLED',
          '2-step verification required.',
        ],
        permission: [403, 'authorizationError', 'USER_PERMISSION_DENIED', 'Permission denied.'],
        not_allowlisted: [
          403,
          'notAllowlistedError',
          'CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE',
          'Not allowlisted.',
        ],
      }
      const [status, family, name, message] = table[failure]
      record(status)
      return rpcFailure(res, status, message, [{ errorCode: { [family]: name }, message }], requestId)
    }
    try {
      parsed = JSON.parse(raw)
    } catch {
      record(400)
      return rpcFailure(res, 400, 'Invalid JSON payload received.', [], requestId)
    }
    const protoErrors = checkMessage(ROOT, route.requestType, parsed, route.pathBound)
    if (protoErrors.length) {
      record(400)
      res.writeHead(400, { 'content-type': 'application/json; charset=UTF-8', 'request-id': requestId })
      return res.end(
        JSON.stringify({
          error: {
            code: 400,
            message: `Invalid JSON payload received. ${protoErrors.join('; ')}`,
            status: 'INVALID_ARGUMENT',
            details: [
              {
                '@type': 'type.googleapis.com/google.rpc.BadRequest',
                fieldViolations: protoErrors.map((e) => ({ field: e.split(': ')[0], description: e })),
              },
            ],
          },
        }),
      )
    }
    const body = parsed as Obj
    const rowField = route.rpc === 'UploadConversionAdjustments' ? 'conversionAdjustments' : 'conversions'
    const rows = body[rowField] as Obj[]
    if (rows.length > 2000) {
      record(400)
      const name =
        rowField === 'conversions' ? 'TOO_MANY_CONVERSIONS_IN_REQUEST' : 'TOO_MANY_ADJUSTMENTS_IN_REQUEST'
      const family = rowField === 'conversions' ? 'conversionUploadError' : 'conversionAdjustmentUploadError'
      return rpcFailure(
        res,
        400,
        'Upload fewer than 2001 events.',
        [{ errorCode: { [family]: name }, message: 'Upload fewer than 2001 events.' }],
        requestId,
      )
    }
    const validateOnly = body.validateOnly === true
    // all-or-nothing when partialFailure is false: nothing is committed if any row fails
    const transactional = body.partialFailure !== true
    const seen = new Set<string>()
    const check = (commit: boolean) =>
      rows.map((row, i) =>
        route.rpc === 'UploadClickConversions'
          ? clickRow(row, i, seen, commit)
          : route.rpc === 'UploadCallConversions'
            ? callRow(row, i, commit)
            : adjustmentRow(row, i, commit),
      )
    const dryRun = check(false)
    const errors = dryRun.flat()
    if (transactional && errors.length) {
      record(400)
      return rpcFailure(res, 400, 'Request contains an invalid argument.', errors, requestId)
    }
    seen.clear()
    const perRow = validateOnly ? dryRun : check(true)
    const all = perRow.flat()
    const response: Obj = {}
    if (all.length)
      response.partialFailureError = {
        code: 3,
        message: all.map((e) => e.message).join(', '),
        details: [{ '@type': FAILURE_TYPE, errors: all, requestId }],
      }
    if (!validateOnly)
      response.results = rows.map((row, i) => (perRow[i].length ? {} : resultOf(route.rpc, row)))
    if (route.rpc === 'UploadClickConversions' && !validateOnly)
      response.jobId = String(2 ** 31 + received.length)
    // The mock holds itself to the same standard: its response must be a valid response message.
    const selfCheck = checkMessage(ROOT, route.responseType, response)
    if (selfCheck.length) {
      record(500)
      return json(
        res,
        500,
        { error: { code: 500, message: `mock bug: ${selfCheck.join('; ')}`, status: 'INTERNAL' } },
        requestId,
      )
    }
    record(200)
    json(res, 200, response, requestId)
  })
  return {
    ...(await listenLocal(server, { quietClose: true })),
    received,
    clicks,
    calls,
    failNext(n, failure) {
      for (let i = 0; i < n; i++) scripted.push(failure)
    },
  }
}
