/**
 * `ext.call`: what closeloop knows about a phone call, carried on the canonical ECAPI event.
 *
 * Every telephony, disposition and CRM source maps into this one shape so the rules stage never sees a
 * vendor payload. Times are Unix epoch seconds like the ECAPI `timestamp`.
 *
 * @example
 *   { call_id: 'CA123', status: 'answered', caller: '+12125550000', tracking_number: '+18005550100',
 *     campaign: 'mortgage-ny', answered_at: 1746558464, duration_s: 0 }
 */
import { type Static, Type as T } from '@sinclair/typebox'

export const CALL_STATUSES = [
  'initiated',
  'ringing',
  'answered',
  'completed',
  'busy',
  'no_answer',
  'failed',
  'canceled',
] as const
export type CallStatus = (typeof CALL_STATUSES)[number]

const Money = T.Number({ minimum: -1e12, maximum: 1e12 })
/** Epoch seconds up to the year 5138: ECAPI's `timestamp` and the call's times (milliseconds are read as such, normalize.ts). */
export const EPOCH_S_MAX = 99_999_999_999

export const CallExtension = T.Object(
  {
    call_id: T.String({ minLength: 1, maxLength: 255 }),
    parent_call_id: T.Optional(T.String({ maxLength: 255 })),
    status: T.Optional(T.Union(CALL_STATUSES.map((s) => T.Literal(s)))),
    sequence: T.Optional(T.Integer({ minimum: 0 })),
    caller: T.Optional(T.String({ maxLength: 64 })),
    tracking_number: T.Optional(T.String({ maxLength: 64 })),
    campaign: T.Optional(T.String({ maxLength: 255 })),
    started_at: T.Optional(T.Integer({ minimum: 0, maximum: EPOCH_S_MAX })),
    answered_at: T.Optional(T.Integer({ minimum: 0, maximum: EPOCH_S_MAX })),
    ended_at: T.Optional(T.Integer({ minimum: 0, maximum: EPOCH_S_MAX })),
    duration_s: T.Optional(T.Number({ minimum: 0, maximum: 864000 })),
    disposition: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
    revenue: T.Optional(Money),
    payout: T.Optional(Money),
    predicted_value: T.Optional(Money),
    attestation: T.Optional(T.String({ maxLength: 64, description: 'STIR/SHAKEN verification status' })),
    platform: T.Optional(T.String({ maxLength: 64 })),
    ext: T.Optional(T.Record(T.String(), T.Unknown())),
  },
  { additionalProperties: true },
)
export type CallExtension = Static<typeof CallExtension>
