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

export interface Preset {
  name: string
  map: FieldMap
  auth: PresetAuth
  /** Runs after the map on the mapped values (pure; may only rewrite fields). */
  refine?: (mapped: Mapped) => void
}
