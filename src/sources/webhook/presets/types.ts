/**
 * What a shipped webhook preset is: a field map for one platform's payload, how that platform
 * authenticates, and the few corrections a declarative map cannot say.
 */
import type { FieldMap, Mapped } from '../fieldmap.ts'

export type PresetAuth =
  /** A shared secret the platform can send: `X-Closeloop-Token` header, `Bearer`, or `?token=`. */
  | { mode: 'token' }
  /** HMAC of the raw body in a header. */
  | { mode: 'hmac'; header: string; algorithm: 'sha1' | 'sha256' }

/**
 * A call the platform marks converted (Ringba's Converted pixel, Retreaver's `converted`: the buyer's
 * conversion rule was met) is a `Converted` disposition unless the payload names one: the shipped `Sale`
 * (its alias), valued at the call's revenue. It was kept as a flag no rule read, so the conversion was lost;
 * `dispositions:` in the config decides what it is worth.
 */
export function convertedIsSale(m: Mapped): void {
  if (m.converted === true && m.disposition === undefined) m.disposition = 'Converted'
}

export interface Preset {
  name: string
  map: FieldMap
  auth: PresetAuth
  /** Runs after the map on the mapped values (pure; may only rewrite fields). */
  refine?: (mapped: Mapped) => void
}
