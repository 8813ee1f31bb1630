// createSchema() had no deadline: it waited as long as PostgreSQL did. An app that runs it at
// startup hung for good while the database was frozen, its host unreachable, or another process
// held the schema lock (a createSchema() of its own stuck mid-way, a migration). It now settles
// by its own deadline (`timeoutMs`, 10 s by default) with ERR_RK_STORE_TIMEOUT, and PostgreSQL
// gives up on it at that deadline too, so no connection stays stuck behind the lock.

import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreError } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { describePostgres, postgresFixture } from '../helpers/postgres.js'
import { type PostgresServer, postgresBin, startPostgres } from '../helpers/postgres-server.js'

const TIMEOUT_MS = 300
/** A call settles within its deadline plus this (a loaded 2-core machine). */
const SLACK_MS = 300

async function timed(work: () => Promise<unknown>): Promise<{ ms: number; error?: unknown }> {
  const start = performance.now()
  try {
    await work()
    return { ms: performance.now() - start }
  } catch (error) {
    return { ms: performance.now() - start, error }
  }
}

describePostgres('createSchema() while another transaction holds the schema lock', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>

  beforeAll(async () => {
    fixture = await postgresFixture('schemadl', undefined, 4)
  })

  afterAll(async () => {
    await fixture.drop()
  })

  it('rejects with ERR_RK_STORE_TIMEOUT by its deadline, leaves no connection waiting, and succeeds once the lock is gone', async () => {
    const store = new PostgresStore({ pool: fixture.pool, table: `${fixture.schema}.locked` })
    const other = await fixture.pool.connect()
    try {
      await other.query('BEGIN')
      await other.query(`SELECT pg_advisory_xact_lock(hashtext('ratekeeper schema'))`)
      const blocked = await timed(() => store.createSchema({ timeoutMs: TIMEOUT_MS }))
      expect(blocked.error).toBeInstanceOf(StoreError)
      expect((blocked.error as StoreError).code).toBe('ERR_RK_STORE_TIMEOUT')
      expect(blocked.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
      // PostgreSQL gave up waiting too (lock_timeout): the connection is back in the pool.
      await new Promise((resolve) => setTimeout(resolve, 100))
      const waiting = await other.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%ratekeeper schema%'`,
      )
      expect(waiting.rows[0].n).toBe(0)
    } finally {
      await other.query('ROLLBACK')
      other.release()
    }
    await store.createSchema({ timeoutMs: TIMEOUT_MS * 10 })
  })

  it('refuses a timeoutMs that is not a whole number of ms, naming it', async () => {
    const store = new PostgresStore({ pool: fixture.pool, table: `${fixture.schema}.options` })
    await expect(store.createSchema({ timeoutMs: 0 })).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_OPTION',
      message: expect.stringContaining('timeoutMs'),
    })
    await expect(store.createSchema({ timeoutMs: '1s' as never })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION' })
  })
})

describe.skipIf(postgresBin() === undefined)('createSchema() while PostgreSQL is frozen (own server)', () => {
  let server: PostgresServer
  let pool: pg.Pool

  beforeAll(async () => {
    server = await startPostgres()
    pool = new pg.Pool({ connectionString: server.url, max: 2 })
    pool.on('error', () => {})
    // An open connection: the freeze finds it idle in the pool.
    await pool.query('SELECT 1')
  }, 30_000)

  afterAll(async () => {
    await pool.end().catch(() => {})
    await server.stop()
  })

  it('rejects with ERR_RK_STORE_TIMEOUT by its deadline instead of hanging', async () => {
    const store = new PostgresStore({ pool })
    server.pause()
    try {
      const frozen = await timed(() => store.createSchema({ timeoutMs: TIMEOUT_MS }))
      expect((frozen.error as StoreError).code).toBe('ERR_RK_STORE_TIMEOUT')
      expect(frozen.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
    } finally {
      server.resume()
    }
    await store.createSchema()
  }, 30_000)
})
