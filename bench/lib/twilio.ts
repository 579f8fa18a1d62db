/**
 * Twilio Voice status callbacks as Twilio sends them: form-encoded, signed with `X-Twilio-Signature`
 * (base64 HMAC-SHA1 of the URL + sorted parameters, computed by the official `twilio` package so the bench
 * checks closeloop against Twilio's own algorithm, not against itself). Every call is a new CallSid from a
 * new caller: a repeat caller would be held back by the repeat-caller rule and never reach the postback.
 */
import { randomBytes } from 'node:crypto'
import twilio from 'twilio'

export const TWILIO_TOKEN = 'bench0auth0token0not0a0secret000'
const ACCOUNT = `AC${'0'.repeat(32)}`
/** The tracking number called; any valid US number. */
const TRACKING = '+18005550100'
/** A run prefix so CallSids never repeat across scenarios in one process (dedup is on call_id). */
const RUN = randomBytes(3).toString('hex')
let seq = 0

/** A valid, distinct US caller for call n: area 212, exchange 200–999, line 0000–9999 (8 M numbers). */
function callerFor(n: number): string {
  const exchange = 200 + (n % 800)
  const line = Math.floor(n / 800) % 10_000
  return `+1212${exchange}${String(line).padStart(4, '0')}`
}

/**
 * The "answered" (`CallStatus=in-progress`) callback of a fresh call, signed for `url` — the URL closeloop
 * sees (`http://127.0.0.1:<port>/v1/sources/<name>/twilio`). `id` is the CallSid, which the postback echoes.
 */
export function answeredCallback(url: string): { id: string; body: string; headers: Record<string, string> } {
  const n = seq++
  const callSid = `CA${RUN}${n.toString(16).padStart(26, '0')}`
  const params: Record<string, string> = {
    AccountSid: ACCOUNT,
    ApiVersion: '2010-04-01',
    CallSid: callSid,
    CallStatus: 'in-progress',
    Called: TRACKING,
    Caller: callerFor(n),
    Direction: 'inbound',
    From: callerFor(n),
    SequenceNumber: '1',
    To: TRACKING,
  }
  return {
    id: callSid,
    body: new URLSearchParams(params).toString(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilio.getExpectedTwilioSignature(TWILIO_TOKEN, url, params),
    },
  }
}
