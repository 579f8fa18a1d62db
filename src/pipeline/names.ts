/**
 * The names call state is stored under, each scoped by data set: two businesses (two data sets) on one
 * closeloop may send the same call id, or hear from the same caller, and each must get its own journey.
 * Before this, `call:<id>` was one journey for both: the second data set's events folded into the first's
 * call, its conversions went out under the first's data set or not at all, and a CRM outcome could link to
 * the other business's call by the caller's phone (a review found it).
 *
 * The data set is URI-encoded, so a `:` in it cannot make two scopes read alike. The unscoped names of
 * earlier versions are still read (never written), so a call or a form in flight across an upgrade keeps
 * its journey, its click and its signal ids; see `legacyNames`.
 *
 * @example
 *   callName('acme', 'CA1') // 'call:acme:CA1'
 *   phoneName('acme', '+12125550000') // 'phone:acme:7c8d08bf…'
 */
import { identityKey } from '../identity/hash.ts'

// well-formed first: encodeURIComponent throws on an unpaired surrogate (the HTTP edge already replaces
// them, but a replayed or hand-written input need not have passed through it)
export const scopeOf = (dataSetId: string) => encodeURIComponent(dataSetId.toWellFormed())

/** A call journey's key (its root call id), and the alias of each of its legs. */
export const callName = (dataSetId: string, callId: string) => `call:${scopeOf(dataSetId)}:${callId}`
/** The newest call from a caller holds this alias: a CRM outcome with only a phone finds the call by it. */
export const phoneName = (dataSetId: string, caller: string) =>
  `phone:${scopeOf(dataSetId)}:${identityKey(caller)}`
export const orderName = (dataSetId: string, order: string) => `order:${scopeOf(dataSetId)}:${order}`

/** The unscoped names of earlier versions: read when no scoped name resolves, never written. */
export const legacyNames = {
  call: (callId: string) => `call:${callId}`,
  phone: (caller: string) => `phone:${identityKey(caller)}`,
  order: (order: string) => `order:${order}`,
}
