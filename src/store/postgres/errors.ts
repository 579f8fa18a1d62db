/**
 * Database faults as one stable error: `code: 'E_STORE_UNAVAILABLE'` (HTTP 503, retry later) for anything
 * that says "the database is not answering right now" — refused or dropped connections, an exhausted pool,
 * a statement timeout, a server shutting down, or a lock conflict we gave up retrying. Anything else (a bug,
 * a constraint we did not expect) is rethrown unchanged so it stays loud.
 */

export interface StoreUnavailableError extends Error {
  readonly code: 'E_STORE_UNAVAILABLE'
  readonly status: 503
  readonly retryable: true
}

export function storeUnavailable(message: string, cause?: unknown): StoreUnavailableError {
  const err = new Error(message, { cause }) as Error & {
    code: 'E_STORE_UNAVAILABLE'
    status: 503
    retryable: true
  }
  err.name = 'StoreUnavailableError'
  err.code = 'E_STORE_UNAVAILABLE'
  err.status = 503
  err.retryable = true
  return err
}

export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return err instanceof Error && (err as { code?: unknown }).code === 'E_STORE_UNAVAILABLE'
}

/** Node socket errors meaning the server is unreachable or the connection broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])

/** SQLSTATEs that are the server's condition, not our query's fault. */
function unavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') || // connection exception
    code.startsWith('53') || // insufficient resources (too many connections, disk full, out of memory)
    code.startsWith('57P') || // admin / crash shutdown, cannot connect now
    code === '57014' || // query_canceled: our statement_timeout fired
    code === '40P01' || // deadlock_detected (after our retries)
    code === '40001' || // serialization_failure (after our retries)
    code === '55P03' || // lock_not_available
    code === '25P03' // idle_in_transaction_session_timeout
  )
}

/** Conflicts worth re-running the operation for: the other transaction has moved on by then. */
export function isRetryableConflict(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code
  return code === '40P01' || code === '40001'
}

/** The connection itself is gone or unusable: the transaction on it is lost, the connection must be dropped. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string')
    return NETWORK_CODES.has(code) || code.startsWith('08') || code.startsWith('57P') || code === '25P03'
  // node-postgres reports these without a code
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|encountered a connection error|Connection ended|Client was closed|not queryable/i.test(
    err.message,
  )
}

export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  if (isStoreUnavailable(err) || isConnectionError(err)) return true
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && unavailableSqlState(code)
}

/** Maps a raw driver error to `E_STORE_UNAVAILABLE` when it is a database fault; else returns it unchanged. */
export function classify(err: unknown): unknown {
  if (isStoreUnavailable(err)) return err
  if (isUnavailable(err)) return storeUnavailable(`PostgreSQL unavailable: ${(err as Error).message}`, err)
  return err
}
