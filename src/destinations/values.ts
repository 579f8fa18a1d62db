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
