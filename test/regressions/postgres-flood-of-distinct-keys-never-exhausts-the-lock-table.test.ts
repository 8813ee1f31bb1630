// Each key a call decides takes one transaction-scoped advisory lock, and PostgreSQL keeps every
// such lock in one shared table sized for max_locks_per_transaction (64 by default) per
// connection. A batch carried up to 128 requests, so a flood of distinct keys with three
// policies took 384 locks per call: a pool of 16 filled the table of a server with 30
// connections, and 640 of 12,000 decisions failed with "out of shared memory" (53200), each
// admitted uncounted by onStoreError 'allow', while every other transaction on the server that
// needed a lock failed too. A call now carries at most 64 distinct keys (a request with more
// still goes whole, alone), so the store's calls stay within PostgreSQL's budget per connection.

import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixedWindow, slidingWindow, tokenBucket } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { type PostgresServer, postgresBin, startPostgres } from '../helpers/postgres-server.js'

describe.skipIf(postgresBin() === undefined)('a flood of distinct keys on three policies (own server, 30 connections)', () => {
  let server: PostgresServer
  let pool: pg.Pool

  beforeAll(async () => {
    server = await startPostgres()
    pool = new pg.Pool({ connectionString: server.url, max: 16 })
    pool.on('error', () => {})
  }, 30_000)

  afterAll(async () => {
    await pool.end().catch(() => {})
    await server.stop()
  })

  it('decides every request, none failing for lack of lock memory', async () => {
    const store = new PostgresStore({ pool, timeoutMs: 10_000 })
    await store.createSchema()
    const policies = [
      tokenBucket({ name: 'a', limit: 10, window: '1m' }),
      fixedWindow({ name: 'b', limit: 100, window: '1h' }),
      slidingWindow({ name: 'c', limit: 50, window: '10m' }),
    ]
    const failures = new Map<string, number>()
    let decided = 0
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 4000 }, (_, i) =>
          store.consume({ keys: policies.map(() => `k${round}-${i}`), policies, cost: 1, now: Date.now(), tag: 't' }).then(
            () => decided++,
            (error: { code?: string; cause?: { code?: string } }) => {
              const code = `${error.code} ${error.cause?.code}`
              failures.set(code, (failures.get(code) ?? 0) + 1)
            },
          ),
        ),
      )
    }
    expect(Object.fromEntries(failures)).toEqual({})
    expect(decided).toBe(12_000)
    // A request with more keys than a call's share still goes, whole.
    const many = Array.from({ length: 80 }, (_, i) => tokenBucket({ name: `p${i}`, limit: 1, window: '1h' }))
    const first = await store.consume({ keys: many.map(() => 'wide'), policies: many, cost: 1, now: Date.now(), tag: 'w' })
    const second = await store.consume({ keys: many.map(() => 'wide'), policies: many, cost: 1, now: Date.now(), tag: 'w' })
    expect([first.allowed, second.allowed]).toEqual([true, false])
    store.close()
  }, 120_000)
})
