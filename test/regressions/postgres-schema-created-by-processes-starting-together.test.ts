// Several app processes starting together each ran createSchema(): concurrent CREATE OR REPLACE
// FUNCTION statements failed with "tuple concurrently updated", so some processes could not
// start. createSchema() now takes a transaction-scoped advisory lock first.

import { afterAll, beforeAll, expect, it } from 'vitest'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { describePostgres, postgresFixture } from '../helpers/postgres.js'

describePostgres('createSchema() from processes starting together', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>

  beforeAll(async () => {
    fixture = await postgresFixture('schema', undefined, 8)
  })

  afterAll(async () => {
    await fixture.drop()
  })

  it('succeeds for every one of 8 concurrent calls', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => new PostgresStore({ pool: fixture.pool, table: `${fixture.schema}.together` }).createSchema()),
    )
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
  })
})
