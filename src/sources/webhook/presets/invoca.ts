/**
 * Invoca webhooks (Pre-transfer, Post-call; JSON POST, form POST or GET), with substitution parameters
 * chosen in Invoca's UI. This preset reads Invoca's transaction field names; pick those parameters in the
 * webhook (docs/sources.md lists them). Without `?event=` a webhook is treated as Post-call.
 * Auth: a shared secret as `?token=` in the webhook URL or the `X-Closeloop-Token` header.
 *
 * @example sample payload: ./invoca.sample.json
 */
import type { Preset } from './types.ts'

export const invoca: Preset = {
  name: 'invoca',
  auth: { mode: 'token' },
  map: {
    call_id: 'transaction_id | complete_call_id | call_record_id',
    status: {
      path: '$query.event | event',
      default: 'post_call',
      transform: 'lower',
      map: { pre_transfer: 'ringing', real_time_routing: 'ringing', post_call: 'completed' },
    },
    caller: 'calling_phone_number | caller_id',
    tracking_number: 'destination_phone_number | dialed_phone_number | dnis',
    campaign: 'advertiser_campaign_name | campaign_name',
    started_at: 'start_time_utc | call_start_time | start_time',
    duration_s: 'duration | duration_in_seconds',
    disposition: 'disposition | signal_name',
    revenue: 'sale_amount | revenue',
    payout: 'publisher_payout | payout',
    currency: 'sale_currency | currency',
    gclid: 'gclid',
    fbclid: 'fbclid',
    msclkid: 'msclkid',
    advertiser_payin: 'advertiser_payin',
    connect_duration_s: 'connect_duration',
  },
  refine(m) {
    // Invoca reports a post-call without talk time for calls that never connected
    if (m.status === 'completed' && m.connect_duration_s === '0') m.status = 'no_answer'
  },
}
