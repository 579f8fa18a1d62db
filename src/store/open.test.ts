import assert from 'node:assert/strict'
import { test } from 'node:test'
import { printableStore } from './open.ts'

test('check-config prints a PostgreSQL URL without its password, in the authority or as a parameter', () => {
  assert.equal(
    printableStore({ postgres: 'postgres://app:S3cret@db.internal:5432/cl' }),
    '{"postgres":"postgres://app:***@db.internal:5432/cl"}',
  )
  assert.equal(
    printableStore({
      postgres: 'postgres://db.internal:5432/cl?user=app&password=S3cretPgPass&sslmode=require',
    }),
    '{"postgres":"postgres://db.internal:5432/cl?user=app&password=***&sslmode=require"}',
  )
  assert.equal(printableStore(undefined), '{"sqlite":"./data/closeloop.db"}')
})
