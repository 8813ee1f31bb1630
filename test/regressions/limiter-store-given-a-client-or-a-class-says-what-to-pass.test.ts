// createLimiter({ store: new Redis() }), { store: pool } and { store: RedisStore } (the class)
// were refused with "must be a store (consume, peek, refund, reset, close), received an object"
// (or "a function"): true, but no hint that the client goes inside a RedisStore or
// PostgresStore, or that the class needs `new`. The message now says which.
import { Redis } from 'ioredis'
import pg from 'pg'
import { createClient } from 'redis'
import { describe, expect, it } from 'vitest'
import { createLimiter, MemoryStore, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'

const policies = [tokenBucket({ limit: 10, window: '1m' })]

function messageOf(store: unknown, option: 'store' | 'fallback' = 'store'): string {
  try {
    createLimiter({ policies, [option]: store as never })
  } catch (error) {
    expect((error as { code?: string }).code).toBe('ERR_RK_INVALID_OPTION')
    expect((error as { option?: string }).option).toBe(option)
    return (error as Error).message
  }
  throw new Error('nothing was thrown')
}

describe('createLimiter() store given something else', () => {
  it('an ioredis client points to new RedisStore({ client })', () => {
    const client = new Redis({ lazyConnect: true })
    try {
      expect(messageOf(client)).toContain("new RedisStore({ client }) from 'ratekeeper/redis'")
      expect(messageOf(client, 'fallback')).toContain('new RedisStore({ client })')
    } finally {
      client.disconnect()
    }
  })

  it('a node-redis client points to new RedisStore({ client })', () => {
    expect(messageOf(createClient())).toContain('new RedisStore({ client })')
  })

  it('a pg pool points to new PostgresStore({ pool })', async () => {
    const pool = new pg.Pool()
    try {
      expect(messageOf(pool)).toContain("new PostgresStore({ pool }) from 'ratekeeper/postgres'")
    } finally {
      await pool.end()
    }
  })

  it('a store class points to new', () => {
    expect(messageOf(RedisStore)).toContain('an instance (new RedisStore(…))')
    expect(messageOf(MemoryStore)).toContain('an instance (new MemoryStore(…))')
  })
})
