/** Opens the configured store: `{ sqlite: path }` (embedded default) or `{ postgres: url }`. */
import { openPostgresStore } from './postgres/index.ts'
import { openSqliteStore } from './sqlite/index.ts'
import type { Store } from './types.ts'

type StoreConfig =
  | { sqlite: string }
  | { postgres: string; pool_size?: number; durable_attempt_records?: boolean }

export async function openStore(cfg: StoreConfig): Promise<Store> {
  if ('sqlite' in cfg) return openSqliteStore(cfg.sqlite)
  return openPostgresStore(cfg.postgres, {
    poolSize: cfg.pool_size,
    durableAttemptRecords: cfg.durable_attempt_records,
  })
}

/**
 * The store as check-config prints it: a PostgreSQL URL without its password, whether in the authority
 * (`user:pass@`) or as a parameter (`?password=`), which was printed as it was.
 *
 * @example printableStore({ postgres: 'postgres://app:s3cret@db/cl' }) // '{"postgres":"postgres://app:***@db/cl"}'
 */
export function printableStore(store: StoreConfig | undefined): string {
  if (!store || !('postgres' in store)) return JSON.stringify(store ?? { sqlite: './data/closeloop.db' })
  const redacted = store.postgres
    .replace(/(:\/\/[^:/@]*:)[^@]*@/, '$1***@')
    .replace(/([?&](?:password|sslpassword)=)[^&#]*/gi, '$1***')
  return JSON.stringify({ ...store, postgres: redacted })
}
