/** Opens the configured store: `{ sqlite: path }` (embedded default) or `{ postgres: url }`. */
import { openPostgresStore } from './postgres/index.ts'
import { openSqliteStore } from './sqlite/index.ts'
import type { Store } from './types.ts'

export async function openStore(
  cfg: { sqlite: string } | { postgres: string; pool_size?: number; durable_attempt_records?: boolean },
): Promise<Store> {
  if ('sqlite' in cfg) return openSqliteStore(cfg.sqlite)
  return openPostgresStore(cfg.postgres, {
    poolSize: cfg.pool_size,
    durableAttemptRecords: cfg.durable_attempt_records,
  })
}
