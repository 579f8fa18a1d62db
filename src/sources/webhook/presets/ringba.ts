/**
 * Ringba "Tracking Pixels" (Integrations → Pixels), one pixel per trigger: Incoming, Connected, Completed,
 * Converted, Payout, Finalized. Ringba builds the body from tokens, so the field names are ours to choose;
 * this preset reads Ringba's own call-log names (`inboundCallId`, `callLengthInSeconds`,
 * `conversionAmount`, `payoutAmount`…) and the recommended body template is in docs/sources.md.
 * Auth: a shared secret as a custom header (`X-Closeloop-Token`) or `?token=` (Ringba pixels support both).
 *
 * @example sample payload: ./ringba.sample.json
 */
import { convertedIsSale, type Preset } from './types.ts'

export const ringba: Preset = {
  name: 'ringba',
  auth: { mode: 'token' },
  map: {
    call_id: 'inboundCallId | callId | call_id',
    // the trigger, sent as a body constant or `?event=` per pixel; Converted/Payout are money, not progress
    status: {
      path: 'event | $query.event | callStatus',
      transform: 'lower',
      map: {
        incoming: 'ringing',
        connected: 'answered',
        completed: 'completed',
        finalized: 'completed',
        error: 'failed',
        converted: null,
        payout: null,
        recording: null,
      },
    },
    caller: 'inboundPhoneNumber | callerId | caller',
    tracking_number: 'number | dialedNumber | trackingNumber',
    campaign: 'campaignName | campaign',
    started_at: 'callDt | callStartDt',
    answered_at: 'callConnectionDt',
    ended_at: 'callCompletedDt',
    duration_s: 'callLengthInSeconds | duration',
    revenue: 'conversionAmount | revenue',
    payout: 'payoutAmount | payout',
    converted: 'hasConverted | converted',
    answered: 'hasConnected | connected',
    duplicate: 'isDuplicate | duplicate',
    gclid: 'googleClickId | gclid',
    fbclid: 'facebookClickId | fbclid',
    publisher: 'publisherName | publisher',
    target: 'targetName | target',
  },
  refine(m) {
    // Finalized fires for a call that ended in any way: one Ringba says never connected was no answer,
    // whatever its length (time in the queue and ringing counts)
    if (m.status === 'completed' && m.answered === false) m.status = 'no_answer'
    convertedIsSale(m)
  },
}
