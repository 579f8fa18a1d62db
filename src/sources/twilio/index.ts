/**
 * `twilio`: Twilio Voice status callbacks (`POST /v1/sources/:name/twilio`, form-encoded; GET and JSON
 * bodies also accepted). Checks `X-Twilio-Signature` against the public URL, then maps one callback to one
 * `contact` event with the call under `ext.call`.
 *
 * Mapping (telephony-and-postbacks.md §1): CallSid → call_id, ParentCallSid → parent_call_id (a `<Dial>`
 * or transfer leg joins its parent), CallStatus → status (`in-progress` = answered), SequenceNumber →
 * sequence, From → caller, To/Called → tracking_number (for inbound calls), CallDuration → duration_s,
 * Timestamp (RFC 2822) → timestamp and started/answered/ended times, StirVerstat → attestation.
 *
 * No ECAPI `id` is set: call events deduplicate on call_id + status + 5 s bucket downstream, and Twilio's
 * (CallSid, SequenceNumber) stays visible in `ext.call` for ordering.
 *
 * @example
 *   sources: { twilio-main: { type: twilio, auth_token: ${TWILIO_AUTH_TOKEN}, data_set_id: acme,
 *              campaigns: { "+18005550100": mortgage-ny } } }
 */
import { type Static, Type as T } from '@sinclair/typebox'
import { toE164 } from '../../identity/phone.ts'
import type { CallExtension, CallStatus } from '../../model/call.ts'
import type { EcapiEvent } from '../../model/ecapi.ts'
import { appError } from '../../model/errors.ts'
import {
  campaignForNumber,
  checkSourceIp,
  header,
  invalid,
  isObj,
  type Obj,
  parseEpochSeconds,
  parseSeconds,
  pointer,
  scalarText,
} from '../common.ts'
import type { CommonSourceConfig, SourceDefinition, SourceRequest } from '../contract.ts'
import { formParams, verifyTwilioSignature } from './signature.ts'

export const TwilioSourceConfig = T.Object({
  /** The account's Auth Token (the HMAC key Twilio signs with). */
  auth_token: T.String({ minLength: 1 }),
  /** Twilio's secondary token during a rotation: both validate until the rotation is promoted. */
  auth_token_secondary: T.Optional(T.String({ minLength: 1 })),
  /** Campaign for every call on this source… */
  campaign: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
  /** …or per tracking number (E.164, or as written; normalized with default_region). */
  campaigns: T.Optional(T.Record(T.String(), T.String({ minLength: 1, maxLength: 255 }))),
})
export type TwilioSourceConfig = Static<typeof TwilioSourceConfig> & CommonSourceConfig

/** CallStatus → canonical status. `queued` precedes `initiated` for API-created calls; SignalWire sends `answered`. */
const STATUS: Record<string, CallStatus> = {
  queued: 'initiated',
  initiated: 'initiated',
  ringing: 'ringing',
  'in-progress': 'answered',
  answered: 'answered',
  completed: 'completed',
  busy: 'busy',
  'no-answer': 'no_answer',
  failed: 'failed',
  canceled: 'canceled',
}

/** Longest value we keep from a Twilio field; CallSids are 34 characters, model limits are 64–255. */
const MAX_ID = 255

/** Fields of the callback as one flat string map (a form POST may not repeat a name; GET and JSON: first value). */
function readParams(req: SourceRequest, json: boolean): Record<string, string> {
  const out: Record<string, string> = Object.create(null)
  const take = (k: string, v: unknown) => {
    const s = Array.isArray(v) ? v[0] : v
    if (!(k in out) && (typeof s === 'string' || typeof s === 'number' || typeof s === 'boolean'))
      out[k] = String(s)
  }
  if (req.method === 'GET') {
    for (const [k, v] of Object.entries(req.query ?? {})) take(k, v)
    return out
  }
  if (json) {
    if (!isObj(req.body)) throw invalid('/', 'expected a JSON object')
    for (const [k, v] of Object.entries(req.body as Obj)) take(k, v)
    return out
  }
  for (const [k, v] of Object.entries(formParams(req.rawBody))) {
    // the signature covers every value of a repeated name, so which one to read would be the sender's pick;
    // Twilio documents no status-callback parameter as multi-valued, so a repeat is refused
    if (typeof v !== 'string') throw invalid(pointer(k), 'repeated parameter (each is sent once)')
    take(k, v)
  }
  return out
}

/** A Twilio address (`+1…`, `client:alice`, `sip:+1…@host`) as E.164, or undefined for non-phone endpoints. */
function phoneOf(raw: string | undefined, region: string): string | undefined {
  if (!raw) return undefined
  if (/^client:/i.test(raw)) return undefined
  const sip = /^sips?:([^@;]+)/i.exec(raw)
  return toE164(sip ? sip[1] : raw, region)
}

/** Reads an optional non-negative integer field; a present but malformed value is a 400 with its path. */
function intField(p: Record<string, string>, name: string): number | undefined {
  const raw = scalarText(p[name])
  if (raw === undefined) return undefined
  if (!/^\d{1,9}$/.test(raw)) throw invalid(pointer(name), 'expected a non-negative integer')
  return Number(raw)
}

function idField(p: Record<string, string>, name: string, required: boolean): string | undefined {
  const raw = scalarText(p[name])
  if (raw === undefined) {
    if (required) throw invalid(pointer(name), 'required')
    return undefined
  }
  if (raw.length > MAX_ID) throw invalid(pointer(name), `at most ${MAX_ID} characters`)
  return raw
}

/**
 * Maps one status callback's parameters to `ext.call` (pure: no signature check here).
 * @example mapTwilioCall({ CallSid: 'CA1', CallStatus: 'in-progress', … }, config, now) // { call_id: 'CA1', status: 'answered', … }
 */
export function mapTwilioCall(
  p: Record<string, string>,
  config: TwilioSourceConfig,
  nowSeconds: number,
): { call: CallExtension; timestamp: number } {
  const region = config.default_region ?? 'US'
  const call_id = idField(p, 'CallSid', true) as string
  const statusText = scalarText(p.CallStatus)?.toLowerCase()
  if (statusText === undefined) throw invalid('/CallStatus', 'required')
  const status = STATUS[statusText]
  if (!status)
    throw invalid('/CallStatus', `unknown status (expected one of: ${Object.keys(STATUS).join(', ')})`)

  let timestamp = nowSeconds
  const tsText = scalarText(p.Timestamp)
  if (tsText !== undefined) {
    const ts = parseEpochSeconds(tsText)
    if (ts === undefined) throw invalid('/Timestamp', 'expected an RFC 2822 date')
    timestamp = ts
  }

  const durationText = scalarText(p.CallDuration)
  const duration = durationText === undefined ? undefined : parseSeconds(durationText)
  if (durationText !== undefined && (duration === undefined || duration > 864000))
    throw invalid('/CallDuration', 'expected seconds (0–864000)')

  // Inbound: From is the caller, To our tracking number. An API-originated call (dialer, click-to-call)
  // is the reverse. A <Dial> leg's To is the agent or buyer, not a tracking number: kept as dialed_number.
  const direction = scalarText(p.Direction)?.toLowerCase() ?? 'inbound'
  const fromRaw = scalarText(p.From) ?? scalarText(p.Caller)
  const toRaw = scalarText(p.To) ?? scalarText(p.Called)
  let caller: string | undefined
  let trackingRaw: string | undefined
  let dialed: string | undefined
  if (direction === 'outbound-api') {
    caller = phoneOf(toRaw, region)
    trackingRaw = fromRaw
  } else if (direction === 'outbound-dial') {
    caller = phoneOf(fromRaw, region)
    dialed = phoneOf(toRaw, region)
  } else {
    caller = phoneOf(fromRaw, region)
    trackingRaw = toRaw
  }
  const tracking_number = phoneOf(trackingRaw, region)

  const call: CallExtension = { call_id, status, platform: 'twilio' }
  const parent = idField(p, 'ParentCallSid', false)
  if (parent) call.parent_call_id = parent
  const sequence = intField(p, 'SequenceNumber')
  if (sequence !== undefined) call.sequence = sequence
  if (caller) call.caller = caller
  if (tracking_number) call.tracking_number = tracking_number
  const campaign = campaignForNumber(config.campaigns, tracking_number, region) ?? config.campaign
  if (campaign) call.campaign = campaign

  if (status === 'initiated' || status === 'ringing') call.started_at = timestamp
  if (status === 'answered') call.answered_at = timestamp
  if (
    status === 'completed' ||
    status === 'busy' ||
    status === 'no_answer' ||
    status === 'failed' ||
    status === 'canceled'
  )
    call.ended_at = timestamp
  if (duration !== undefined) {
    call.duration_s = duration
    // CallDuration counts from answer to hang-up, so a completed call with talk time was answered then
    if (status === 'completed' && duration > 0)
      call.answered_at = Math.max(0, timestamp - Math.round(duration))
  }

  const attestation = scalarText(p.StirVerstat)
  if (attestation) call.attestation = attestation.slice(0, 64)

  const ext: Record<string, unknown> = { direction }
  if (dialed) ext.dialed_number = dialed
  const answeredBy = scalarText(p.AnsweredBy)
  if (answeredBy) ext.answered_by = answeredBy.slice(0, 64)
  const account = scalarText(p.AccountSid)
  if (account) ext.account_sid = account.slice(0, 64)
  call.ext = ext
  return { call, timestamp }
}

function isJson(req: SourceRequest): boolean {
  const type = header(req, 'content-type')?.toLowerCase() ?? ''
  return req.method === 'POST' && (type.includes('json') || /[?&]bodySHA256=/.test(req.publicUrl))
}

export const twilioSource: SourceDefinition<typeof TwilioSourceConfig> = {
  type: 'twilio',
  route: 'twilio',
  configSchema: TwilioSourceConfig,
  secrets: ['auth_token', 'auth_token_secondary'],
  read(req, config, name): EcapiEvent[] {
    checkSourceIp(req.remoteIp, config.allow_ips)
    const json = isJson(req)
    const signature = header(req, 'x-twilio-signature')
    if (!signature) throw appError('E_SOURCE_SIGNATURE', 'missing X-Twilio-Signature header')
    const tokens = [config.auth_token, config.auth_token_secondary].filter((t): t is string => !!t)
    if (!verifyTwilioSignature({ signature, url: req.publicUrl, rawBody: req.rawBody ?? '', json }, tokens))
      throw appError(
        'E_SOURCE_SIGNATURE',
        `X-Twilio-Signature does not match ${req.publicUrl} (check public_url and auth_token)`,
      )
    const params = readParams(req, json)
    const { call, timestamp } = mapTwilioCall(params, config, Math.floor(req.now / 1000))
    return [
      {
        data_set_id: config.data_set_id ?? name,
        timestamp,
        event_type: 'contact',
        source: 'phone_call',
        ext: { call },
      },
    ]
  },
}
