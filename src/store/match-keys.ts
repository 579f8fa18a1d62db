/**
 * A delivery's match keys as both stores keep them: comma-separated, `''` when the payload carried none,
 * NULL when its destination reports none (or it was not delivered yet). Keys are field names: no commas.
 *
 * @example storedMatchKeys(['em', 'fbc']) // 'em,fbc'; matchKeysFrom('') // []
 */
export function storedMatchKeys(keys: string[] | undefined): string | null {
  return keys === undefined ? null : keys.join(',')
}

export function matchKeysFrom(stored: unknown): string[] | undefined {
  if (typeof stored !== 'string') return undefined
  return stored === '' ? [] : stored.split(',')
}
