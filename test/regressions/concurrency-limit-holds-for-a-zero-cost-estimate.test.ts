// A concurrency policy must bound the requests in flight whatever their cost estimate. A consume
// of cost 0 "only looked" and took no slot, so an HTTP limiter whose `cost` is 0 — the natural
// reserve-then-settle set-up when the cost is unknown up front (`cost: 0, actualCost:
// 'x-usage-tokens'`), or a cost function a client can drive to 0 — admitted any number of
// requests in flight past `concurrency({ limit })`, silently. A consume now takes a slot of every
// concurrency policy whatever its cost (the step knows a consume by its lease); a peek takes none.
// Over HTTP (Express), and on the core with every store: memory, casStore, Redis (its Lua twin).
import { Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { concurrency, createLimiter, type Store, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { Gates, type InFlightApp, inFlightApp, type Options } from '../adapters/in-flight-apps.js'
import { clock } from '../helpers/clock.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { STORES } from '../limiter/concurrency-stores.js'

let app: InFlightApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe('concurrency with a zero cost estimate', () => {
  it('a second request in flight is refused with limit 1, though the estimate is 0', async () => {
    const limiter = createLimiter({
      policies: [concurrency({ name: 'in-flight', limit: 1 }), tokenBucket({ name: 'tokens', limit: 1000, window: '1m' })],
    })
    const gates = new Gates()
    app = inFlightApp('express5', { limiter, key: () => 'k', cost: 0, actualCost: 'x-usage-tokens' } as Options, gates)
    const first = app.open('/slow')
    await vi.waitFor(() => expect(gates.count).toBe(1), { timeout: 5000, interval: 5 })
    const second = await app.send('/fast')
    gates.open()
    await first.done
    expect(second.status).toBe(429)
  })
})

/** Two consumes of cost 0 under limit 1, a peek between them, a release: [first, peek, second, after release]. */
async function zeroCost(store: Store, now: () => number): Promise<unknown[]> {
  const limiter = createLimiter({
    store,
    now,
    policies: [concurrency({ name: 'in-flight', limit: 1 }), tokenBucket({ name: 'tokens', limit: 10, window: '1m' })],
  })
  const first = await limiter.consume('k', { cost: 0 })
  const look = await limiter.peek('k', { cost: 0 })
  const second = await limiter.consume('k', { cost: 0 })
  await limiter.release(first)
  const third = await limiter.consume('k', { cost: 0 })
  const tokens = (d: typeof first) => d.policies.find((p) => p.name === 'tokens')?.remaining
  return [
    [first.allowed, first.policies[0].remaining, tokens(first)],
    [look.allowed, look.policies[0].remaining],
    [second.allowed, second.violated],
    [third.allowed, tokens(third)],
  ]
}

const EXPECTED = [
  [true, 0, 10], // a slot taken, no token
  [true, 0], // a peek takes none
  [false, ['in-flight']],
  [true, 10],
]

describe.each(STORES)('a consume of cost 0 takes a slot, on %s', (_name, newStore) => {
  it('bounds requests in flight, charges no token, and a peek takes no slot', async () => {
    const c = clock(Date.UTC(2026, 0, 1))
    expect(await zeroCost(newStore(c.now), c.now)).toEqual(EXPECTED)
  })
})

describeRedis('a consume of cost 0 takes a slot, on Redis', () => {
  const prefix = uniquePrefix('cc-zero')
  const client = new Redis(REDIS_URL)
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('bounds requests in flight, charges no token, and a peek takes no slot', async () => {
    const c = clock(Date.UTC(2026, 0, 1))
    const store = new RedisStore({ client, prefix, clock: 'caller', extraTtlMs: 86_400_000 })
    expect(await zeroCost(store, c.now)).toEqual(EXPECTED)
    store.close()
  })
})
