/**
 * A destination's `rate_per_s` shared by every node: one token bucket row per destination (a burst of one
 * second, and at least one token, refilled continuously), read and written in one `UPDATE` on the database's clock, so neither
 * node clocks nor the number of nodes change the rate a destination sees. Nodes take tokens in small
 * chunks (`want`), so a round trip buys several sends.
 */
import type pg from 'pg'
import { rateBurst } from '../rate-bucket.ts'
import { query } from './pool.ts'

/**
 * Every SET expression reads the row as it was (PostgreSQL semantics), so `last_grant` and `tokens` are
 * computed from the same refill; concurrent takers serialize on the row lock and each sees the other's
 * result (READ COMMITTED re-evaluates the UPDATE on the newest row).
 */
const TAKE = `
UPDATE rate_buckets SET
  last_grant = LEAST($3::float8, floor(LEAST($4::float8, tokens + GREATEST(0, n.t - refilled_at) / 1000.0 * $2))),
  tokens = LEAST($4::float8, tokens + GREATEST(0, n.t - refilled_at) / 1000.0 * $2)
    - LEAST($3::float8, floor(LEAST($4::float8, tokens + GREATEST(0, n.t - refilled_at) / 1000.0 * $2))),
  refilled_at = GREATEST(refilled_at, n.t)
FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS t) n
WHERE destination = $1
RETURNING last_grant`

/** Up to `want` tokens of `destination`'s shared bucket; 0 when it is empty. */
export async function takeRateTokens(
  pool: pg.Pool,
  destination: string,
  ratePerS: number,
  want: number,
): Promise<number> {
  const burst = rateBurst(ratePerS)
  for (let tries = 0; tries < 2; tries++) {
    const rows = await query<{ last_grant: number }>(pool, TAKE, [destination, ratePerS, want, burst])
    if (rows.length) return Number(rows[0].last_grant)
    // the first take for this destination: a full bucket (another node may have created it meanwhile)
    await query(
      pool,
      `INSERT INTO rate_buckets (destination, tokens, refilled_at, last_grant)
       VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 0) ON CONFLICT DO NOTHING`,
      [destination, burst],
    )
  }
  return 0
}
