// A request the store decided in time, whose answer came back while this process was stalled (a
// long synchronous task, a GC pause, a loaded machine), is answered with that answer, not failed
// by its deadline: Node runs due timers before it reads its sockets, so the deadline fired first
// and the request was reported as a store error (denied, with onStoreError 'deny') although the
// store had charged it. Counts then disagreed with what callers were told (seen in a Cluster
// failover test on a loaded machine: one more charged than admitted). The same for RedisStore,
// PostgresStore, and the limiter's own deadline on a store that has none.

import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createLimiter, fixedWindow, type Limiter, type Store, type StoreRequest, type StoreResult } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { describePostgres, postgresFixture } from '../helpers/postgres.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

/** Blocks the event loop for `ms`. */
function stall(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // busy: nothing else of this process runs
  }
}

/** Five consumes, each followed by a stall of 150 ms (past the 60 ms deadline) once its call is on its way. */
async function consumeThroughStalls(limiter: Limiter, key: string): Promise<string[]> {
  const outcomes: string[] = []
  for (let i = 0; i < 5; i++) {
    const decision = limiter.consume(key)
    // The call goes out at the end of this tick (or the next); the stall begins once it has, and
    // the store answers within a few milliseconds, into the socket.
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    stall(150)
    outcomes.push((await decision).reason)
  }
  return outcomes
}

const window = () => [fixedWindow({ name: 'w', limit: 100, window: '1h' })]

describeRedis('a store answer that arrived during a stall: Redis', () => {
  const prefix = uniquePrefix('stall')
  const admin = new Redis(REDIS_URL)
  afterAll(async () => {
    await deleteUnder(admin, prefix)
    admin.disconnect()
  })

  it('RedisStore answers the request with it (as charged), rather than failing it at the deadline that passed meanwhile', async () => {
    const client = new Redis(REDIS_URL)
    await client.ping()
    const store = new RedisStore({ client, prefix, timeoutMs: 60 })
    await new Promise((resolve) => setTimeout(resolve, 20)) // the clock calibration call
    const limiter = createLimiter({ store, policies: window(), onStoreError: 'deny' })
    expect(await consumeThroughStalls(limiter, 'k')).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
    // What Redis counted is what the callers were told.
    expect((await limiter.peek('k')).remaining).toBe(95)
    store.close()
    client.disconnect()
  })

  it("the limiter's deadline, on a store without one of its own (answers read from a socket), does the same", async () => {
    const client = new Redis(REDIS_URL)
    await client.ping()
    const key = `${prefix}:custom`
    // A counter in Redis: every consume admitted and counted, its answer a socket read away and
    // 20 ms late (a BLPOP that times out goes first), so that it arrives during the stall.
    const count = async (request: StoreRequest): Promise<StoreResult> => {
      const replies = await client.pipeline().blpop(`${key}:nothing`, 0.02).incr(key).exec()
      const n = Number(replies?.[1]?.[1])
      return { allowed: true, now: request.now, results: [100 - n, request.now + 3_600_000, 0] }
    }
    const store: Store = { consume: count, peek: count, refund: count, reset: async () => {}, close: () => {} }
    const limiter = createLimiter({ store, policies: window(), onStoreError: 'deny', timeoutMs: 60 })
    expect(await consumeThroughStalls(limiter, 'k')).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
    expect(await client.get(key)).toBe('5')
    client.disconnect()
  })
})

describePostgres('a store answer that arrived during a stall: PostgreSQL', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>
  beforeAll(async () => {
    fixture = await postgresFixture('stall', undefined, 2)
  })
  afterAll(async () => {
    await fixture.drop()
  })

  it('PostgresStore answers the request with it (as charged), rather than failing it at the deadline that passed meanwhile', async () => {
    const store = await fixture.store({ timeoutMs: 60 })
    const limiter = createLimiter({ store, policies: window(), onStoreError: 'deny' })
    await limiter.peek('warm') // the pool's connections made, the statements prepared
    expect(await consumeThroughStalls(limiter, 'k')).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
    expect((await limiter.peek('k')).remaining).toBe(95)
    store.close()
  })
})
