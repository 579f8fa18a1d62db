/**
 * What both stores' versioned migrations share: their shape, and how the ones a database lacks are named.
 * Each store keeps its own list (sqlite/migrations.ts, postgres/migrations.ts) and its own bookkeeping table.
 */
export interface Migration {
  version: number
  name: string
  sql: string
}

/**
 * `version name` of each migration in `all` whose version is not in `applied`, oldest first.
 *
 * @example
 *   pendingNames(SQLITE_MIGRATIONS, new Set([1])) // → ['2 privacy']
 */
export function pendingNames(all: readonly Migration[], applied: ReadonlySet<number>): string[] {
  return all.filter((m) => !applied.has(m.version)).map((m) => `${m.version} ${m.name}`)
}
