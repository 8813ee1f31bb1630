import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { createLimiter, MemoryStore, tokenBucket } from 'ratekeeper'
import { createClient, type FetchFunction, RateLimitError } from 'ratekeeper/client'
import { RedisStore } from 'ratekeeper/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scriptedServer, virtualTime } from './helpers.js'

const T0 = 1_700_000_000_000
let server: Awaited<ReturnType<typeof scriptedServer>>
beforeAll(async () => {
  server = await scriptedServer()
  server.plan('/ok', [{ status: 200, body: 'ok' }])
})
afterAll(() => server.close())

/** A fetch that records when each request left (on the test clock) and how many were in flight at once. */
function recordingFetch(now: () => number, holdTicks = 0) {
  const sentAt: number[] = []
  let inFlight = 0
  let maxInFlight = 0
  const fetchImpl: FetchFunction = async (input, init) => {
    sentAt.push(now())
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    try {
      // Hold the request a few event-loop turns so concurrent calls would overlap if nothing gated them.
      for (let i = 0; i < holdTicks; i++) await new Promise((r) => setImmediate(r))
      const res = await fetch(input, init)
      await res.arrayBuffer()
      return new Response(null, { status: res.status, headers: res.headers })
    } finally {
      inFlight--
    }
  }
  return { fetchImpl, sentAt, max: () => maxInFlight }
}

/** Fails when more than `burst + floor(elapsed * limit / windowMs)` requests left in any span from the first. */
function expectWithinBucket(sentAt: number[], limit: number, windowMs: number, burst: number): void {
  const sorted = [...sentAt].sort((a, b) => a - b)
  sorted.forEach((t, i) => {
    const allowed = burst + Math.floor(((t - sorted[0]) * limit) / windowMs)
    expect(i + 1, `request ${i + 1} at +${t - sorted[0]} ms`).toBeLessThanOrEqual(allowed)
  })
}

describe('in-process queue', () => {
  it('sends at a controlled rate, first come first served', async () => {
    const time = virtualTime(T0)
    const rec = recordingFetch(time.now)
    const client = createClient({
      baseUrl: server.url,
      fetch: rec.fetchImpl,
      now: time.now,
      sleep: time.sleep,
      queue: { rate: { limit: 2, window: '1s' } },
    })
    const order: number[] = []
    await Promise.all([0, 1, 2, 3, 4, 5].map((i) => client('/ok').then(() => order.push(i))))
    expect(rec.sentAt.map((t) => t - T0)).toEqual([0, 0, 500, 1000, 1500, 2000])
    expect(order).toEqual([0, 1, 2, 3, 4, 5])
    // One pending wait at a time, not one timer per queued call.
    expect(time.slept.length).toBeLessThanOrEqual(4)
    expect(time.pending()).toBe(0)
  })

  it('honours a burst and a per-request cost', async () => {
    const time = virtualTime(T0)
    const rec = recordingFetch(time.now)
    const client = createClient({
      baseUrl: server.url,
      fetch: rec.fetchImpl,
      now: time.now,
      sleep: time.sleep,
      queue: { rate: { limit: 10, window: '1s', burst: 5 } },
    })
    await Promise.all([client('/ok', { rateLimit: { cost: 5 } }), client('/ok', { rateLimit: { cost: 2 } })])
    expect(rec.sentAt.map((t) => t - T0)).toEqual([0, 200])
    await expect(client('/ok', { rateLimit: { cost: 6 } })).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_ARGUMENT',
      option: 'rateLimit.cost',
    })
  })

  it('keeps at most `concurrency` requests in flight', async () => {
    const time = virtualTime(T0)
    const rec = recordingFetch(time.now, 5)
    // An ideal network (the clock stands still while a request is in flight): the queued calls' deadline
    // timer would otherwise see the virtual clock run to it while the first requests are on the wire.
    const client = createClient({
      baseUrl: server.url,
      fetch: (input, init) => time.during(rec.fetchImpl(input, init)),
      now: time.now,
      sleep: time.sleep,
      queue: { concurrency: 2 },
    })
    const results = await Promise.all(Array.from({ length: 8 }, () => client('/ok')))
    expect(results.every((r) => r.status === 200)).toBe(true)
    expect(rec.max()).toBe(2)
    expect(rec.sentAt).toHaveLength(8)

    const unlimited = recordingFetch(time.now, 5)
    const free = createClient({ baseUrl: server.url, fetch: unlimited.fetchImpl, now: time.now, sleep: time.sleep })
    await Promise.all(Array.from({ length: 8 }, () => free('/ok')))
    expect(unlimited.max()).toBe(8)
  })

  it('rejects a queued call that would wait past maxWaitMs, as a client-side RateLimitError', async () => {
    const time = virtualTime(T0)
    const rec = recordingFetch(time.now)
    const client = createClient({
      baseUrl: server.url,
      fetch: rec.fetchImpl,
      now: time.now,
      sleep: time.sleep,
      maxWaitMs: 1200,
      queue: { rate: { limit: 1, window: '1s' } },
    })
    const settled = await Promise.allSettled([client('/ok'), client('/ok'), client('/ok'), client('/ok')])
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected'])
    const error = (settled[2] as PromiseRejectedResult).reason
    expect(error).toBeInstanceOf(RateLimitError)
    expect(error).toMatchObject({ source: 'client', reason: 'max-wait', attempts: 0, response: undefined })
    expect(rec.sentAt.map((t) => t - T0)).toEqual([0, 1000])
    expect(time.pending()).toBe(0)
  })
})

describe('shared outgoing budget through a ratekeeper limiter', () => {
  it('two clients (two processes) on one store share one budget', async () => {
    const time = virtualTime(T0)
    const store = new MemoryStore()
    const rec = recordingFetch(time.now)
    const make = () =>
      createClient({
        baseUrl: server.url,
        fetch: rec.fetchImpl,
        now: time.now,
        sleep: time.sleep,
        limiter: createLimiter({
          store,
          policies: [tokenBucket({ name: 'api', limit: 4, window: '1s' })],
          now: time.now,
          sleep: time.sleep,
        }),
      })
    const [a, b] = [make(), make()]
    await Promise.all([...Array.from({ length: 6 }, () => a('/ok')), ...Array.from({ length: 6 }, () => b('/ok'))])
    expect(rec.sentAt).toHaveLength(12)
    expectWithinBucket(rec.sentAt, 4, 1000, 4)
    expect(Math.max(...rec.sentAt) - T0).toBe(2000)
  })

  it('turns a limiter that can never admit the cost into a client-side RateLimitError', async () => {
    const time = virtualTime(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 2, window: '1s' })], now: time.now, sleep: time.sleep })
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, limiter })
    const error = await client('/ok', { rateLimit: { cost: 3 } }).catch((e: unknown) => e)
    expect(error).toMatchObject({ source: 'client', reason: 'max-wait', cause: expect.objectContaining({ code: 'ERR_RK_WAIT' }) })
  })

  it('reports a store failure refused by onStoreError: deny', async () => {
    const time = virtualTime(T0)
    const broken = new MemoryStore()
    broken.consume = () => {
      throw new Error('down')
    }
    const limiter = createLimiter({
      store: broken,
      onStoreError: 'deny',
      policies: [tokenBucket({ limit: 2, window: '1s' })],
      now: time.now,
    })
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, limiter })
    await expect(client('/ok')).rejects.toMatchObject({ source: 'client', reason: 'store-error' })
  })

  describe('on a real Redis', () => {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    const prefix = `rktest-client-${randomUUID().slice(0, 8)}`
    const connections: Redis[] = []
    afterAll(async () => {
      const r = new Redis(url)
      const keys = await r.keys(`${prefix}*`)
      if (keys.length > 0) await r.del(...keys)
      r.disconnect()
      for (const c of connections) c.disconnect()
    })

    it('three processes share one outgoing budget through a RedisStore', async () => {
      const time = virtualTime(T0)
      const rec = recordingFetch(time.now)
      const policies = [tokenBucket({ name: 'partner-api', limit: 5, window: '1s' })]
      const clients = [0, 1, 2].map(() => {
        const connection = new Redis(url)
        connections.push(connection)
        // clock: 'caller' decides on the virtual clock, so the test never waits in real time.
        const store = new RedisStore({ client: connection, prefix, clock: 'caller', timeoutMs: 2000 })
        const limiter = createLimiter({ store, policies, now: time.now, sleep: time.sleep, onStoreError: 'deny' })
        return createClient({ baseUrl: server.url, fetch: rec.fetchImpl, now: time.now, sleep: time.sleep, limiter, maxWaitMs: 10_000 })
      })
      await Promise.all(connections.map((c) => c.ping()))
      await Promise.all(clients.flatMap((client) => Array.from({ length: 5 }, () => client('/ok'))))
      expect(rec.sentAt).toHaveLength(15)
      expectWithinBucket(rec.sentAt, 5, 1000, 5)
      expect(Math.max(...rec.sentAt) - T0).toBe(2000)
      const keys = await connections[0].keys(`${prefix}*`)
      expect(keys.length).toBeGreaterThan(0)
    })
  })
})
