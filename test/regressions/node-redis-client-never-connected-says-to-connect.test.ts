// node-redis clients are connected by their owner (`await client.connect()`). One that never was
// (the call forgotten, or made after the first requests) failed every call as "Redis is not
// connected (client status "end")": a client that had closed for good, not one nobody opened, and
// nothing said what to do. The store error (and so the RK_STORE_OUTAGE line) now says the client
// was never connected and to call client.connect(); once it is, calls go through.
import { randomUUID } from 'node:crypto'
import { createClient, createCluster } from 'redis'
import { createClient as createClient4 } from 'redis4'
import { createClient as createClient5 } from 'redis5'
import { describe, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { type NodeRedisClient, RedisStore } from '../../src/stores/redis/index.js'

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const MAKERS = [
  ['node-redis 4', createClient4],
  ['node-redis 5', createClient5],
  ['node-redis 6', createClient],
] as unknown as [string, (options: { url: string }) => NodeRedisClient & { connect(): Promise<unknown>; quit(): Promise<unknown> }][]

describe.each(MAKERS)('%s', (_name, make) => {
  it('a client never connected: the error says to connect it; once connected, calls go', async () => {
    const client = make({ url: URL })
    const store = new RedisStore({ client, prefix: `rk-never-connected-${randomUUID()}` })
    const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 5, window: '1m' })], logger: { warn: () => {} } })
    const errors: string[] = []
    limiter.on('store-error', (e) => errors.push((e.error as Error).message))
    const before = await limiter.consume('k')
    expect(before.reason).toBe('store-error')
    expect(errors[0]).toMatch(/never connected/)
    expect(errors[0]).toMatch(/client\.connect\(\)/)
    await client.connect()
    const after = await limiter.consume('k')
    expect(after.reason).toBe('ok')
    expect(after.remaining).toBe(4)
    await store.close()
    await client.quit()
  })

  it('a client that was connected and closed still reads as closed', async () => {
    const client = make({ url: URL })
    await client.connect()
    const store = new RedisStore({ client, prefix: `rk-never-connected-${randomUUID()}` })
    const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 5, window: '1m' })], logger: { warn: () => {} } })
    expect((await limiter.consume('k')).reason).toBe('ok')
    await client.quit()
    const errors: string[] = []
    limiter.on('store-error', (e) => errors.push((e.error as Error).message))
    await limiter.consume('k')
    expect(errors[0]).toMatch(/not connected \(client status "end"\)/)
    await store.close()
  })
})

it('a node-redis cluster never connected: the error says to connect it', async () => {
  const cluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:1' }] })
  const store = new RedisStore({ client: cluster as unknown as NodeRedisClient, prefix: `rk-never-connected-${randomUUID()}` })
  const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 5, window: '1m' })], logger: { warn: () => {} } })
  const errors: string[] = []
  limiter.on('store-error', (e) => errors.push((e.error as Error).message))
  await limiter.consume('k')
  expect(errors[0]).toMatch(/never connected/)
  await store.close()
})
