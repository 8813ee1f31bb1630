// Failures: a stopped or frozen PostgreSQL, a lock held by another transaction, an exhausted pool.
// Every call settles by its deadline with a StoreError code (never a hung request), the limiter
// applies onStoreError, a call the database reaches after its deadline writes nothing, and the
// store recovers when the cause goes away. Our own postgres on a free port, stopped by PID.

import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, type Decision, MemoryStore, StoreError, tokenBucket } from '../../../src/index.js'
import { PostgresStore } from '../../../src/stores/postgres/index.js'
import { describePostgres, postgresFixture } from '../../helpers/postgres.js'
import { type PostgresServer, postgresBin, startPostgres } from '../../helpers/postgres-server.js'

const TIMEOUT_MS = 300
/** A call settles within its deadline plus this (a loaded 2-core machine). */
const SLACK_MS = 300

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = performance.now()
  try {
    const value = await work()
    return { ms: performance.now() - start, value }
  } catch (error) {
    return { ms: performance.now() - start, error }
  }
}

const policy = tokenBucket({ name: 'pm', limit: 5, window: '1h' })
const req = (key: string) => ({ keys: [key], policies: [policy], cost: 1, now: Date.now(), tag: key })

describePostgres('PostgresStore under a lock held elsewhere and an exhausted pool', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>
  let store: PostgresStore

  beforeAll(async () => {
    fixture = await postgresFixture('fail', undefined, 4)
    store = await fixture.store({ timeoutMs: TIMEOUT_MS })
    // Learns the database's clock and prepares the statement on the pool's connections.
    await Promise.all(Array.from({ length: 4 }, (_, i) => store.peek(req(`warm-${i}`))))
  })

  afterAll(async () => {
    store.close()
    await fixture.drop()
  })

  it.each([
    ['a row lock (SELECT … FOR UPDATE)', (table: string) => `SELECT * FROM ${table} FOR UPDATE`],
    ['a table lock (a migration: LOCK TABLE … ACCESS EXCLUSIVE)', (table: string) => `LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`],
  ])('waits for %s no longer than the deadline, writes nothing late, and frees its connection', async (_name, lockSql) => {
    const key = `locked-${Math.random()}`
    expect((await store.consume(req(key))).results[0]).toBe(4)
    const other = await fixture.pool.connect()
    try {
      await other.query('BEGIN')
      await other.query(lockSql(`"${fixture.schema}".state`))
      const limiters = (['allow', 'deny', 'fallback'] as const).map((mode) =>
        createLimiter({ store, policies: [policy], onStoreError: mode, ...(mode === 'fallback' ? { fallback: new MemoryStore() } : {}) }),
      )
      const blocked = await timed(() => store.consume(req(key)))
      expect(blocked.error).toBeInstanceOf(StoreError)
      expect((blocked.error as StoreError).code).toBe('ERR_RK_STORE_TIMEOUT')
      expect(blocked.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
      const decided = await Promise.all(limiters.map((l) => timed(() => l.consume(key))))
      expect(decided.map((d) => (d.value as Decision).reason)).toEqual(['store-error', 'store-error', 'ok'])
      expect(decided.map((d) => (d.value as Decision).allowed)).toEqual([true, false, true])
      for (const d of decided) expect(d.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
    } finally {
      await other.query('ROLLBACK')
      other.release()
    }
    // The database gave up waiting at the deadline (lock_timeout): no connection stays stuck,
    // and none of the calls that timed out charged the bucket.
    await sleep(50)
    expect(fixture.pool.waitingCount).toBe(0)
    expect((await store.peek(req(key))).results[0]).toBe(4)
  })

  it('settles by its deadline when the pool has no free connection, and the call run later writes nothing', async () => {
    const f = await postgresFixture('pool', undefined, 1)
    try {
      const small = await f.store({ timeoutMs: TIMEOUT_MS })
      const key = 'pool-key'
      expect((await small.consume(req(key))).results[0]).toBe(4)
      const held = await f.pool.connect()
      const waits = await Promise.all(Array.from({ length: 5 }, () => timed(() => small.consume(req(key)))))
      for (const w of waits) {
        expect((w.error as StoreError).code).toBe('ERR_RK_STORE_TIMEOUT')
        expect(w.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
      }
      // The connection comes back: the queued call runs, past its deadline, and is refused.
      held.release()
      await sleep(100)
      expect((await small.peek(req(key))).results[0]).toBe(4)
      expect((await small.consume(req(key))).results[0]).toBe(3)
    } finally {
      await f.drop()
    }
  })
})

const bin = postgresBin()

describe.skipIf(bin === undefined)('PostgresStore when PostgreSQL stops or freezes (own server)', () => {
  let server: PostgresServer
  let pool: pg.Pool
  let store: PostgresStore

  beforeAll(async () => {
    server = await startPostgres()
    pool = new pg.Pool({ connectionString: server.url, max: 4, connectionTimeoutMillis: 1000 })
    // An idle client that loses its server emits 'error'; the application's pool handles it.
    pool.on('error', () => {})
    store = new PostgresStore({ pool, timeoutMs: TIMEOUT_MS })
    await store.createSchema()
  }, 30_000)

  afterAll(async () => {
    store.close()
    await pool.end().catch(() => {})
    await server.stop()
  })

  it('fails fast while PostgreSQL is down, applies onStoreError, and recovers after a restart', async () => {
    expect((await store.consume(req('k'))).allowed).toBe(true)
    await server.kill()
    const direct = await timed(() => store.consume(req('k')))
    expect(direct.error).toBeInstanceOf(StoreError)
    expect((direct.error as StoreError).message).not.toMatch(/ECONNREFUSED|terminat/)
    expect(direct.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
    const deny = createLimiter({ store, policies: [policy], onStoreError: 'deny' })
    const d = await timed(() => deny.consume('k'))
    expect(d.value).toMatchObject({ allowed: false, reason: 'store-error' })
    expect(d.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
    await server.restart()
    let ok = false
    for (let i = 0; i < 40 && !ok; i++) {
      ok = await store.consume(req('k')).then(
        (r) => r.allowed,
        () => false,
      )
      if (!ok) await sleep(50)
    }
    expect(ok).toBe(true)
  }, 30_000)

  it('never hangs while PostgreSQL is frozen (SIGSTOP): every call settles by its deadline', async () => {
    expect((await store.consume(req('frozen'))).allowed).toBe(true)
    server.pause()
    try {
      const calls = await Promise.all(Array.from({ length: 8 }, () => timed(() => store.consume(req('frozen')))))
      for (const c of calls) {
        expect((c.error as StoreError).code).toBe('ERR_RK_STORE_TIMEOUT')
        expect(c.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
      }
    } finally {
      server.resume()
    }
    await sleep(200)
    expect((await store.consume(req('frozen'))).allowed).toBe(true)
  }, 30_000)
})
