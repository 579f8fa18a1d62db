/**
 * Small value helpers the payload builders share for ECAPI's "value or list" fields.
 *
 * @example scalarOrArray(unique(list(userData.email_address).map(hash))) // '…' or ['…', '…'] or undefined
 */

/** A value or list of values as a list; none for undefined or null. @example list('a') // ['a'] */
export const list = <V>(v: V | V[] | undefined | null): V[] =>
  v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]

/** The non-empty strings, each once, in first-seen order. @example unique(['a', '', undefined, 'a']) // ['a'] */
export const unique = (values: (string | undefined)[]): string[] => [
  ...new Set(values.filter((v): v is string => typeof v === 'string' && v !== '')),
]

/** "string, array": a scalar for one value, an array for several, absent for none. @example scalarOrArray(['a']) // 'a' */
export const scalarOrArray = (values: string[]): string | string[] | undefined =>
  values.length === 0 ? undefined : values.length === 1 ? values[0] : values

/**
 * The keys of `o` that hold a value (not undefined, null, '' or an empty list), sorted, `except` those: a
 * payload object's match keys. An IP address or a user agent is left out by every destination: it helps a
 * platform match but identifies nobody, and nearly every event has one, so counting it would keep the
 * match rate high after the click ids and the PII stopped arriving.
 *
 * @example presentKeys({ ph: ['…'], em: [], fbc: 'fb.1…', client_user_agent: 'Mozilla' }, ['client_user_agent']) // ['fbc', 'ph']
 */
export const presentKeys = (o: object, except: readonly string[] = []): string[] =>
  Object.entries(o)
    .filter(([k]) => !except.includes(k))
    .filter(([, v]) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0))
    .map(([k]) => k)
    .sort()
