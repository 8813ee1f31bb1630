// The store prepared its call under the name `rk_decide_<table>`, and `table` may be 111
// characters (`schema.table`, 55 each). PostgreSQL keeps 63 bytes of a statement's name: past
// that, pg printed a warning on stderr at every call, and two stores whose names agreed on their
// first 63 bytes (two tables of one long-named schema) shared the name, so the second failed every
// call on a connection the first had used ("prepared statement ... already exists"). The call is
// now sent unnamed (postgres-store-works-behind-a-transaction-pooler); this keeps such stores apart.

import pg from 'pg'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { tokenBucket } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { DATABASE_URL, describePostgres, uniqueSchema } from '../helpers/postgres.js'

describePostgres('tables whose names are long', () => {
  // One connection: both stores use it.
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
  const schema = uniqueSchema('long').padEnd(55, 'x')

  beforeAll(async () => {
    await pool.query(`CREATE SCHEMA "${schema}"`)
  })

  afterAll(async () => {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`)
    await pool.end()
  })

  it('each store decides on its own statement, and pg warns of nothing', async () => {
    const error = vi.spyOn(console, 'error')
    try {
      const one = new PostgresStore({ pool, table: `${schema}.state_one` })
      const two = new PostgresStore({ pool, table: `${schema}.state_two` })
      await one.createSchema()
      await two.createSchema()
      const policy = tokenBucket({ name: 'long', limit: 5, window: '1m' })
      const request = () => ({ keys: ['k'], policies: [policy], cost: 1, now: Date.now(), tag: 'k' })
      const remaining = async (store: PostgresStore) =>
        store.consume(request()).then(
          (result) => result.results[0],
          (e: { code?: string }) => e.code,
        )
      expect([await remaining(one), await remaining(two), await remaining(one), await remaining(two)]).toEqual([4, 4, 3, 3])
      expect(error.mock.calls.filter((args) => String(args[0]).includes('63 characters'))).toEqual([])
    } finally {
      error.mockRestore()
    }
  })
})
