/**
 * Regression: with the Redis clock, the deny cache timed a denial on the local wall clock
 * (`Date.now()`): denied at wall time W for 50 ms, it answered "denied" locally until W + 50. A
 * wall clock stepped back (an NTP correction, a VM resumed) by an hour stretched every cached
 * denial by that hour, although Redis, whose clock decides, admitted the client again after
 * 50 ms. A cached denial now ends by the monotonic clock, which no step moves.
 */
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest'
import { fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

describeRedis('redis deny cache and a wall clock stepped back', () => {
  let client: Redis
  const prefix = uniquePrefix('deny-step')
  beforeAll(async () => {
    client = new Redis(REDIS_URL, { lazyConnect: true })
    await client.connect()
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('a cached denial ends when Redis admits again, not an hour later', async () => {
    const cached = new RedisStore({ client, prefix, denyCache: true, timeoutMs: 2_000 })
    const plain = new RedisStore({ client, prefix, timeoutMs: 2_000 })
    const policies = [fixedWindow({ name: 'w', limit: 1, window: '50ms' })]
    const request = { keys: ['client'], policies, cost: 1, now: 0, tag: 'client' }
    // Spend the window, then be denied (a window may roll between the two: try again).
    let denied = false
    for (let i = 0; i < 100 && !denied; i++) denied = !(await cached.consume(request)).allowed
    expect(denied).toBe(true)
    expect(cached.deniedEntries).toBe(1)

    const wall = Date.now
    vi.spyOn(Date, 'now').mockImplementation(() => wall() - 3_600_000)
    // Wait (on Redis's clock) until Redis would admit the client again.
    while (!(await plain.peek(request)).allowed) await new Promise((resolve) => setTimeout(resolve, 5))

    expect((await cached.consume(request)).allowed).toBe(true)
    cached.close()
    plain.close()
  })
})
