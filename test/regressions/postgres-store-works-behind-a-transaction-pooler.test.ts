// The store prepared its call under a name (`rk_decide_<table>`) on each connection. Behind a
// pooler in transaction mode (PgBouncer before 1.21, or later ones without
// `max_prepared_statements`) a pg client's calls reach whichever server connection is free, and
// pg's memory of what it prepared belongs to the client: a name already prepared there by another
// client failed ("prepared statement ... already exists", 42P05), one prepared elsewhere was
// missing (26000). Through PgBouncer 1.18, 1,200 decisions from 20 clients over 2 server
// connections: 2,800 of 4,000 were store errors, which onStoreError 'allow' (the default) admits
// without limit. The call is now sent unnamed, as any pooler passes it on.

import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { type PgBouncer, pgBouncerFor, startPgBouncer } from '../helpers/pgbouncer.js'
import { DATABASE_URL, describePostgres, uniqueSchema } from '../helpers/postgres.js'

describePostgres('the PostgreSQL store behind a pooler in transaction mode', () => {
  const direct = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
  const schema = uniqueSchema('pooler')
  const table = `${schema}.state`

  beforeAll(async () => {
    await direct.query(`CREATE SCHEMA "${schema}"`)
    await new PostgresStore({ pool: direct, table }).createSchema()
  })

  afterAll(async () => {
    await direct.query(`DROP SCHEMA "${schema}" CASCADE`)
    await direct.end()
  })

  it('leaves no prepared statement on the connection it used', async () => {
    const limiter = createLimiter({
      store: new PostgresStore({ pool: direct, table }),
      policies: [fixedWindow({ name: 'direct', limit: 5, window: '1h' })],
    })
    expect((await limiter.consume('one')).reason).toBe('ok')
    expect((await limiter.consume('two')).reason).toBe('ok')
    // One connection in the pool: the calls above ran on the one this query runs on.
    const { rows } = await direct.query('SELECT name FROM pg_prepared_statements')
    expect(rows).toEqual([])
  })

  const bouncer = pgBouncerFor('the PostgreSQL store behind PgBouncer')
  it.runIf(bouncer).each(['transaction', 'statement'] as const)(
    'admits exactly the limit through PgBouncer in %s mode, with no store error; createSchema() runs through it',
    async (poolMode) => {
      const pgb: PgBouncer = await startPgBouncer(DATABASE_URL, { poolMode, serverConnections: 2 })
      const pool = new pg.Pool({ connectionString: pgb.url, max: 20 })
      try {
        const store = new PostgresStore({ pool, table: `${schema}.${poolMode}`, timeoutMs: 5000 })
        await store.createSchema()
        const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'pooled', limit: 100, window: '1h' })] })
        const reasons = new Map<string, number>()
        await Promise.all(
          Array.from({ length: 1200 }, async (_, i) => {
            await new Promise((resolve) => setTimeout(resolve, i % 40))
            const d = await limiter.consume(`k${i % 3}`)
            reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1)
          }),
        )
        expect(Object.fromEntries(reasons)).toEqual({ ok: 300, limited: 900 })
      } finally {
        await pool.end()
        await pgb.stop()
      }
    },
    60_000,
  )
})
