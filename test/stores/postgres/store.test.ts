// PostgresStore against the real PostgreSQL: the database's clock, one round trip per decision,
// all policies of a request all or nothing, exactness with many calls in flight, the cleanup
// keeping the table bounded under a flood of keys, options and a missing schema reported clearly.

import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, type Policy, slidingWindow, tokenBucket } from '../../../src/index.js'
import { type PostgresPool, PostgresStore } from '../../../src/stores/postgres/index.js'
import { describePostgres, postgresFixture } from '../../helpers/postgres.js'
import { ReferenceStore } from '../redis/reference.js'

/** A pool that counts the queries sent through it (round trips). */
function counting(pool: PostgresPool): PostgresPool & { count: number } {
  const counted = {
    count: 0,
    query: (config: Parameters<PostgresPool['query']>[0]) => {
      counted.count++
      return pool.query(config)
    },
  }
  return counted
}

const request = (keys: string[], policies: Policy[], cost = 1) => ({ keys, policies, cost, now: 0, tag: keys[0] })

describePostgres('PostgresStore', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>

  beforeAll(async () => {
    fixture = await postgresFixture('store', undefined, 16)
    await fixture.store()
  })

  afterAll(async () => {
    await fixture.drop()
  })

  it("decides on the database's clock, whatever the caller's clock says", async () => {
    const store = new PostgresStore({ pool: fixture.pool, table: fixture.table })
    const policy = fixedWindow({ name: 'fw', limit: 3, window: '1h' })
    const before = Date.now()
    const r = await store.consume(request(['clock'], [policy]))
    // The caller said now = 0 (1970); the decision is at the database's time (same machine).
    expect(Math.abs(r.now - before)).toBeLessThan(2000)
    expect(r.results[1]).toBe((Math.floor(r.now / 3_600_000) + 1) * 3_600_000)
    const limiter = createLimiter({ store, policies: [policy], now: () => 42 })
    expect((await limiter.consume('clock2')).resetAt).toBeGreaterThan(before)
  })

  it('makes one round trip per decision, whatever the number of policies', async () => {
    const pool = counting(fixture.pool)
    const store = new PostgresStore({ pool, table: fixture.table })
    const policies = [
      tokenBucket({ name: 'tb', limit: 100, window: '1m' }),
      slidingWindow({ name: 'sw', limit: 100, window: '1m' }),
      fixedWindow({ name: 'fw', limit: 1000, window: '1d' }),
    ]
    await store.consume(request(['warm'], [policies[0]])) // learns the database's clock
    pool.count = 0
    for (let i = 0; i < 20; i++) await store.consume(request(['rt1', 'rt1', 'rt2'], policies))
    for (let i = 0; i < 20; i++) await store.consume(request([`fresh-${i}`, `fresh-${i}`, 'rt2'], policies))
    await store.peek(request(['rt1', 'rt1', 'rt2'], policies))
    expect(pool.count).toBe(41)
  })

  it('charges no policy when one denies (all or nothing)', async () => {
    const store = new PostgresStore({ pool: fixture.pool, table: fixture.table })
    const wide = tokenBucket({ name: 'wide', limit: 10, window: '1h' })
    const narrow = fixedWindow({ name: 'narrow', limit: 2, window: '1h' })
    const both = request(['aon', 'aon-team'], [wide, narrow])
    expect((await store.consume(both)).allowed).toBe(true)
    expect((await store.consume(both)).allowed).toBe(true)
    const denied = await store.consume(both)
    expect(denied.allowed).toBe(false)
    // The bucket kept what it had after two: 8, not 7.
    expect((await store.peek(request(['aon'], [wide]))).results[0]).toBe(8)
  })

  it('admits exactly the limit with 64 calls in flight on one key, and on keys shared by two stores', async () => {
    const a = new PostgresStore({ pool: fixture.pool, table: fixture.table, timeoutMs: 10_000 })
    const b = new PostgresStore({ pool: fixture.pool, table: fixture.table, timeoutMs: 10_000 })
    const policy = fixedWindow({ name: 'hot', limit: 150, window: '1h' })
    const results = await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? a : b).consume(request(['hot'], [policy]))))
    expect(results.filter((r) => r.allowed).length).toBe(150)
  })

  it('decides the calls queued on one key in one round trip, in call order, as if one after the other', async () => {
    const pool = counting(fixture.pool)
    const store = new PostgresStore({ pool, table: fixture.table, clock: 'caller', timeoutMs: 10_000 })
    const reference = new ReferenceStore()
    const policies = [
      tokenBucket({ name: 'batched', limit: 50, window: '1m', burst: 60 }),
      fixedWindow({ name: 'fwb', limit: 90, window: '1h' }),
    ]
    const now = Date.now()
    const calls = Array.from({ length: 200 }, (_, i) => ({ keys: ['batch', 'batch-team'], policies, cost: 1 + (i % 3), now, tag: 'batch' }))
    const answers = await Promise.all(calls.map((c, i) => (i % 5 === 4 ? store.peek(c) : store.consume(c))))
    const expected = calls.map((c, i) => (i % 5 === 4 ? reference.peek(c) : reference.consume(c)))
    expect(answers).toEqual(expected)
    expect(answers.filter((a) => a.allowed).length).toBeGreaterThan(10)
    // 200 calls queued together: two batches of at most 128 (and a first read of the states).
    expect(pool.count).toBeLessThanOrEqual(4)
  })

  it('sends requests on different keys that wait together in one call, each decided on its own', async () => {
    const pool = counting(fixture.pool)
    const store = new PostgresStore({ pool, table: fixture.table, timeoutMs: 10_000 })
    const policy = fixedWindow({ name: 'spread', limit: 3, window: '1h' })
    await store.peek(request(['spread-warm'], [policy])) // learns the database's clock
    pool.count = 0
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => store.consume(request([`spread-${i % 100}`], [policy]))))
    // Each of the 100 keys admitted exactly 3, in call order: 2, 1, 0 remaining.
    expect(results.map((r) => r.results[0])).toEqual([...Array(100).fill(2), ...Array(100).fill(1), ...Array(100).fill(0)])
    expect(pool.count).toBeLessThanOrEqual(10)
  })

  it('admits exactly the limit per key when two stores batch requests over shared keys at once', async () => {
    const stores = [0, 1].map(() => new PostgresStore({ pool: fixture.pool, table: fixture.table, timeoutMs: 10_000 }))
    const policy = fixedWindow({ name: 'shared', limit: 7, window: '1h' })
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        stores[i % 2].consume(request([`shared-${i % 10}`], [policy])).then((r) => ({ key: i % 10, r })),
      ),
    )
    for (let key = 0; key < 10; key++) expect(results.filter((x) => x.key === key && x.r.allowed).length).toBe(7)
  })

  it('keeps the table bounded under a flood of distinct keys (expired rows swept without a cron)', async () => {
    const f = await postgresFixture('flood', undefined, 8)
    try {
      const store = await f.store({ timeoutMs: 5000 })
      // States live 50 ms: under a flood, live rows are those of the last 50 ms.
      const policy = fixedWindow({ name: 'short', limit: 5, window: 50 })
      const sizes: number[] = []
      let n = 0
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          Array.from({ length: 16 }, () =>
            (async () => {
              for (let i = 0; i < 50; i++) await store.consume(request([`flood-${n++}`], [policy]))
            })(),
          ),
        )
        sizes.push(await f.rows())
      }
      // 8000 distinct keys written; the table holds a bounded fraction of them.
      expect(n).toBe(8000)
      expect(Math.max(...sizes.slice(3))).toBeLessThan(2500)
      expect(sizes[9]).toBeLessThan(2500)
    } finally {
      await f.drop()
    }
  }, 60_000)

  it('names the missing schema at first use (ERR_RK_STORE), and never before', async () => {
    const store = new PostgresStore({ pool: fixture.pool, table: `${fixture.schema}.nothing_here` })
    await expect(store.consume(request(['x'], [tokenBucket({ limit: 1, window: 1000 })]))).rejects.toMatchObject({
      code: 'ERR_RK_STORE',
      message: expect.stringContaining('createSchema()'),
    })
  })

  it('rejects after close() with ERR_RK_CLOSED', async () => {
    const store = new PostgresStore({ pool: fixture.pool, table: fixture.table })
    store.close()
    await expect(store.consume(request(['x'], [tokenBucket({ limit: 1, window: 1000 })]))).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' })
  })
})

describe('new PostgresStore() options', () => {
  const pool: PostgresPool = { query: async () => ({ rows: [] }) }
  it.each([
    [{}, 'pool'],
    [{ pool: {} }, 'pool'],
    [{ pool, table: 'a;drop' }, 'table'],
    [{ pool, table: 'a.b.c' }, 'table'],
    [{ pool, timeoutMs: 0 }, 'timeoutMs'],
    [{ pool, clock: 'redis' }, 'clock'],
    [{ pool, cleanupPages: -1 }, 'cleanupPages'],
    [{ pool, extraTtlMs: 1.5 }, 'extraTtlMs'],
    [{ pool, tabel: 'x' }, 'tabel'],
  ])('%o is refused, naming %s', (options, name) => {
    expect(() => new PostgresStore(options as never)).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/^ERR_RK_(INVALID|UNKNOWN)_OPTION$/), message: expect.stringContaining(name) }),
    )
  })

  it('prints the schema SQL for migration tools, named after the table', () => {
    const sql = new PostgresStore({ pool, table: 'app.limits' }).schemaSql()
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "app"."limits"')
    expect(sql).toContain('FUNCTION "app"."limits_decide"')
  })
})

describe('docs/stores.md', () => {
  it('prints the table exactly as createSchema() creates it (comments aside)', () => {
    const doc = readFileSync(new URL('../../../docs/stores.md', import.meta.url), 'utf8')
    const block = /```sql\n([\s\S]*?)```/.exec(doc)?.[1] ?? ''
    const strip = (sql: string) => sql.replace(/--.*$/gm, '').replace(/\s+/g, ' ').trim()
    const pool: PostgresPool = { query: async () => ({ rows: [] }) }
    const created = new PostgresStore({ pool }).schemaSql().split('\n\n')[0]
    expect(strip(block)).toBe(strip(created))
  })
})
