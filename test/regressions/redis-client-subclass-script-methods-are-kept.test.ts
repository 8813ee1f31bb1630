// A client whose evalsha/eval are its class's own (a subclass of ioredis's Redis that counts,
// traces or wraps its script calls, or a spy put on Redis.prototype) must have its script calls
// made through them: the store's direct command path only stands in for ioredis's own methods.
// It once checked for methods on the instance alone, so a subclass's evalsha was never called.

import { Redis } from 'ioredis'
import { afterEach, expect, it, vi } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { describeRedis, REDIS_URL } from '../helpers/redis.js'

const prefix = `rkt-subclass-${process.pid}-${Date.now()}`
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describeRedis('a RedisStore on a client with script methods of its own class', () => {
  const clients: Redis[] = []
  afterEach(() => {
    vi.restoreAllMocks()
    for (const c of clients.splice(0)) c.disconnect()
  })

  async function decide(client: Redis, before: () => void = () => {}): Promise<boolean> {
    clients.push(client)
    const store = new RedisStore({ client, prefix })
    await sleep(30) // past the store's choice of how it calls the script, and its first calls
    before()
    const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'ten', limit: 10, window: '1h' })] })
    const decision = await limiter.consume(`k-${Math.random()}`)
    store.close()
    return decision.allowed
  }

  it.each([false, true])('calls a subclass evalsha (auto-pipelining %s)', async (enableAutoPipelining) => {
    const calls: string[] = []
    class Counting extends Redis {}
    // evalsha overridden in the subclass (defined on its prototype: ioredis's overloads defy a typed override)
    const inherited = Redis.prototype.evalsha as (...args: unknown[]) => unknown
    Object.defineProperty(Counting.prototype, 'evalsha', {
      value(this: Redis, ...args: unknown[]) {
        calls.push('evalsha')
        return inherited.apply(this, args)
      },
    })
    expect(await decide(new Counting(REDIS_URL, { enableAutoPipelining }), () => calls.splice(0))).toBe(true)
    expect(calls).toEqual(['evalsha'])
  })

  it('calls an evalsha spied on Redis.prototype', async () => {
    const spy = vi.spyOn(Redis.prototype, 'evalsha')
    expect(await decide(new Redis(REDIS_URL), () => spy.mockClear())).toBe(true)
    expect(spy).toHaveBeenCalled()
  })
})
