/**
 * A delivery's match keys as both stores keep them: comma-separated, `''` when the payload carried none,
 * NULL when its destination reports none (or it was not delivered yet). Keys are field names: no commas.
 *
 * @example storedMatchKeys(['em', 'fbc']) // 'em,fbc'; matchKeysField('') // { matchKeys: [] }
 */
export function storedMatchKeys(keys: string[] | undefined): string | null {
  return keys === undefined ? null : keys.join(',')
}

/** The delivery's `matchKeys` field from its stored column: absent when NULL (nothing reported yet). */
export function matchKeysField(stored: unknown): { matchKeys?: string[] } {
  if (typeof stored !== 'string') return {}
  return { matchKeys: stored === '' ? [] : stored.split(',') }
}
