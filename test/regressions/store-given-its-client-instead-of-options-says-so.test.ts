// `new RedisStore(redis)` and `new PostgresStore(pool)` — the client passed where the options
// object belongs, as many libraries take it — failed with an error about the client's own
// fields: `"options" is not an option` (ioredis's `options`), `"_events" is not an option`
// (pg's Pool), `"sendCommand" is not an option` (node-redis). Both now say what was passed and
// how to pass it: `new RedisStore({ client })`, `new PostgresStore({ pool })`. No connection is
// made here: the clients connect lazily and are closed unused.
import { Redis } from 'ioredis'
import pg from 'pg'
import { createClient } from 'redis'
import { describe, expect, it } from 'vitest'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'

function thrown(make: () => unknown): { code?: string; option?: string; message: string } {
  try {
    make()
  } catch (error) {
    return error as { code?: string; option?: string; message: string }
  }
  throw new Error('nothing was thrown')
}

describe('a store given its client as the options object', () => {
  it.each([
    ['an ioredis client', () => new Redis({ lazyConnect: true }), (c: Redis) => c.disconnect()],
    ['a node-redis client', () => createClient(), () => {}],
  ] as const)('new RedisStore(%s) says to pass it as { client }', (_name, make, close) => {
    const client = make()
    try {
      const error = thrown(() => new RedisStore(client as never))
      expect(error.code).toBe('ERR_RK_INVALID_ARGUMENT')
      expect(error.option).toBe('options')
      expect(error.message).toContain('new RedisStore({ client })')
    } finally {
      close(client as never)
    }
  })

  it('new PostgresStore(pool) says to pass it as { pool }', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://user:secret@127.0.0.1:5432/none' })
    try {
      const error = thrown(() => new PostgresStore(pool as never))
      expect(error.code).toBe('ERR_RK_INVALID_ARGUMENT')
      expect(error.option).toBe('options')
      expect(error.message).toContain('new PostgresStore({ pool })')
      expect(error.message).not.toContain('secret')
    } finally {
      await pool.end()
    }
  })

  it('the options objects themselves are still taken', () => {
    const client = new Redis({ lazyConnect: true })
    const pool = new pg.Pool()
    try {
      expect(() => new RedisStore({ client })).not.toThrow()
      expect(() => new PostgresStore({ pool })).not.toThrow()
    } finally {
      client.disconnect()
      void pool.end()
    }
  })
})
