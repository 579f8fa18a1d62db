/**
 * A signal's body as both stores keep it. Its consent per audience (google, meta, partner) is nearly
 * always one decision with one list of reasons, told three times: ~660 of a plain event's ~1,270 bytes.
 * Stored, such a signal carries it once, as `consentFor['*']`; read back, it has all three again. Bodies
 * written before this are read unchanged.
 *
 * Why it pays: SQLite fitted two signal rows (~1,430 bytes) on a 4 KiB page, so a commit of 16 single
 * events wrote 8 pages of signals alone, each a WAL frame; folded (~940 bytes), four fit, and such a commit
 * wrote 39.9 frames instead of 44.6. PostgreSQL writes each
 * body to the WAL as well, and every claim parses it again.
 *
 * @example
 *   signalFromStored(storedSignal(signal)) // deep-equal to `signal`
 */
import type { Signal } from '../model/signal.ts'

type ConsentFor = NonNullable<Signal['consentFor']>
type Entry = ConsentFor[keyof ConsentFor]

/** The key the shared entry is stored under, and its `audience` while stored. */
const SHARED = '*'

/** Equal apart from `audience`: the same flags and the same reasons in the same order. */
function sameDecision(entryA: Entry, entryB: Entry): boolean {
  const a = entryA as unknown as Record<string, unknown>
  const b = entryB as unknown as Record<string, unknown>
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  for (const k of keys) {
    if (k === 'audience') continue
    const x = a[k]
    const y = b[k]
    if (x === y) continue
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  }
  return true
}

/** The body to store: `signal` itself, or a copy whose identical audiences are folded into one. */
export function storedSignal(signal: Signal): Signal {
  const cf = signal.consentFor
  if (!cf) return signal
  const entries = Object.values(cf)
  const first = entries[0]
  if (!first || entries.length < 2 || !entries.every((e) => sameDecision(first, e))) return signal
  return {
    ...signal,
    consentFor: {
      [SHARED]: { ...first, audience: SHARED, audiences: Object.keys(cf) },
    } as unknown as ConsentFor,
  }
}

/** The signal a stored body holds: a folded consent is unfolded to every audience it was stored for. */
export function signalFromStored(body: Signal): Signal {
  const shared = (
    body.consentFor as Record<string, (Entry & { audiences?: string[] }) | undefined> | undefined
  )?.[SHARED]
  if (!shared) return body
  const { audiences = [], ...entry } = shared
  const consentFor: Record<string, Entry> = {}
  for (const a of audiences) consentFor[a] = { ...entry, audience: a } as Entry
  return { ...body, consentFor: consentFor as ConsentFor }
}
