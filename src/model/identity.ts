/**
 * Identity facts carried on the canonical event (under `ext`) and on each signal: first-touch click ids
 * and the consent decision. ECAPI itself has only `user_data.click_id` (the receiving platform's id), so
 * closeloop keeps every platform's click id side by side and each destination picks its own.
 */
import { type Static, Type as T } from '@sinclair/typebox'

/** `ext.click_ids` on the canonical event. */
/** Epoch milliseconds up to the end of the year 9999: later ones are not dates (`new Date(1e300)` is invalid). */
export const EPOCH_MS_MAX = 253_402_300_799_999

export const ClickIdentity = T.Object(
  {
    gclid: T.Optional(T.String({ maxLength: 512 })),
    gbraid: T.Optional(T.String({ maxLength: 512 })),
    wbraid: T.Optional(T.String({ maxLength: 512 })),
    fbclid: T.Optional(T.String({ maxLength: 512 })),
    /** Meta click cookie `fb.1.<ms>.<fbclid>`; built from fbclid + clicked_at when absent. */
    fbc: T.Optional(T.String({ maxLength: 600 })),
    fbp: T.Optional(T.String({ maxLength: 600 })),
    ttclid: T.Optional(T.String({ maxLength: 512 })),
    msclkid: T.Optional(T.String({ maxLength: 512 })),
    /** When the click happened, Unix epoch ms. */
    clicked_at: T.Optional(T.Integer({ minimum: 0, maximum: EPOCH_MS_MAX })),
    /** How the click was joined to this event: dni, phone, click_id, visitor, none. */
    attribution: T.Optional(T.String({ maxLength: 32 })),
  },
  { additionalProperties: true },
)
export type ClickIdentity = Static<typeof ClickIdentity>

export type ConsentState = 'granted' | 'denied' | 'unspecified'

/** Which consent rules a destination answers to (TCF vendor, LDU…): Google, Meta, or any other partner. */
export type ConsentAudience = 'google' | 'meta' | 'partner'

/** What a destination may receive about the person behind a signal. */
export interface ConsentDecision {
  /** PII (email, phone, names, address) may be hashed and sent. */
  pii: boolean
  /** Google consent object. */
  adUserData: ConsentState
  adPersonalization: ConsentState
  /** Meta Limited Data Use (data_processing_options: ['LDU']). */
  ldu: boolean
  /** ECAPI mmt_only / Meta opt_out: measurement only, no optimisation. */
  mmtOnly: boolean
}

export const GRANTED: ConsentDecision = {
  pii: true,
  adUserData: 'granted',
  adPersonalization: 'granted',
  ldu: false,
  mmtOnly: false,
}
