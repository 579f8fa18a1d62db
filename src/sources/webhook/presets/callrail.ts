/**
 * CallRail webhooks: the JSON body is the v3 call object (telephony-and-postbacks.md §2.4). The body does not
 * say which event fired, so give each CallRail webhook its own URL: `?event=pre_call`, `call_routing_complete`,
 * `post_call`, `call_modified`. Post-Call arrives up to 20 minutes after hang-up.
 * Auth: header `Signature` = base64(HMAC-SHA1(company signing key, raw body)); set `secret` to the key.
 *
 * @example sample payload: ./callrail.sample.json
 */
import type { Preset } from './types.ts'

export const callrail: Preset = {
  name: 'callrail',
  auth: { mode: 'hmac', header: 'Signature', algorithm: 'sha1' },
  map: {
    call_id: 'resource_id | id',
    status: {
      path: '$query.event | event',
      transform: 'lower',
      map: {
        pre_call: 'ringing',
        call_routing_complete: 'ringing',
        routing_complete: 'ringing',
        post_call: 'completed',
        call_modified: null,
      },
    },
    caller: 'customer_phone_number | customer_number',
    tracking_number: 'tracking_phone_number',
    campaign: 'campaign | source_name',
    started_at: 'start_time | created_at',
    duration_s: 'duration',
    // a user-set call value in CallRail is the business's revenue for the call
    revenue: 'value',
    disposition: {
      path: 'lead_status',
      map: {
        good_lead: 'Qualified Lead',
        not_a_lead: 'Not a Lead',
        previously_marked_good_lead: 'Existing Customer',
      },
    },
    gclid: 'gclid',
    fbclid: 'fbclid',
    msclkid: 'msclkid',
    answered: 'answered',
    first_call: 'first_call',
    source: 'source',
  },
  refine(m) {
    // a Post-Call for a call nobody answered is a missed call, not a completed conversation
    if (m.status === 'completed' && m.answered === false) m.status = 'no_answer'
  },
}
