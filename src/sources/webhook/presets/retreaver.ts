/**
 * Retreaver webhooks (campaign "tracking URLs" / pings) on Start, Answered and end-of-call triggers.
 * Tokens are tag keys in brackets (`[call_uuid]`, `[caller_number]`); the body template in docs/sources.md
 * uses those names, and the nested `call.*` shape of Retreaver's Call API is read as a fallback.
 * Auth: a shared secret as `?token=` or `X-Closeloop-Token`.
 *
 * @example sample payload: ./retreaver.sample.json
 */
import { convertedIsSale, type Preset } from './types.ts'

export const retreaver: Preset = {
  name: 'retreaver',
  auth: { mode: 'token' },
  map: {
    call_id: 'call_uuid | uuid | call.uuid',
    status: {
      path: 'event | $query.event | status | call.status',
      transform: 'lower',
      map: {
        start: 'ringing',
        selected: 'ringing',
        answered: 'answered',
        bridged: 'answered',
        ended: 'completed',
        hangup: 'completed',
        converted: null,
        not_converted: null,
      },
    },
    caller: 'caller_number | call.caller_number',
    tracking_number: 'dialed_number | number | call.dialed_number',
    campaign: 'campaign_name | cid | call.cid',
    started_at: 'received_at | call.received_at | created_at',
    answered_at: 'connected_at | call.connected_at',
    ended_at: 'hungup_at | call.hungup_at',
    duration_s: 'duration | call.duration',
    revenue: 'revenue | call.revenue',
    payout: 'payout | call.payout',
    converted: 'converted | call.converted',
    gclid: 'gclid',
    fbclid: 'fbclid',
    publisher: 'afid | call.afid',
    buyer_number: 'connected_to | call.connected_to',
  },
  refine: convertedIsSale,
}
