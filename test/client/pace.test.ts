import { createClient, type RateLimitError } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Hit, type Planned, scriptedServer, virtualTime } from './helpers.js'

const T0 = 1_700_000_000_000
const time = virtualTime(T0)
let server: Awaited<ReturnType<typeof scriptedServer>>
beforeAll(async () => {
  // The server reads the same virtual clock as the client.
  server = await scriptedServer(time.now)
})
afterAll(() => server.close())

/** A fixed window of `limit` per `windowMs` that sends X-RateLimit-* (epoch seconds) and answers 429 when spent. */
function fixedWindowServer(limit: number, windowMs: number) {
  let window = -1
  let count = 0
  return (hit: Hit): Planned => {
    const w = Math.floor(hit.at / windowMs)
    if (w !== window) {
      window = w
      count = 0
    }
    const resetSeconds = String(((w + 1) * windowMs) / 1000)
    if (count >= limit) {
      const retry = String(Math.ceil(((w + 1) * windowMs - hit.at) / 1000))
      return {
        status: 429,
        headers: {
          'Retry-After': retry,
          'X-RateLimit-Limit': String(limit),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': resetSeconds,
        },
      }
    }
    count++
    return {
      status: 200,
      headers: { 'X-RateLimit-Limit': String(limit), 'X-RateLimit-Remaining': String(limit - count), 'X-RateLimit-Reset': resetSeconds },
      body: 'ok',
    }
  }
}

/** A token bucket of capacity 1 refilling one per second, that sends draft-10 fields (`t` = the next token). */
function oneTokenPerSecondServer() {
  let tokens = 1
  let last = -1
  return (hit: Hit): Planned => {
    if (last >= 0) tokens = Math.min(1, tokens + (hit.at - last) / 1000)
    last = hit.at
    if (tokens < 1) {
      const t = Math.ceil((1 - tokens) * 1000)
      return { status: 429, headers: { 'Retry-After': String(Math.ceil(t / 1000)), RateLimit: `"second";r=0;t=${Math.ceil(t / 1000)}` } }
    }
    tokens -= 1
    const t = Math.ceil((1 - tokens) * 1000)
    return {
      status: 200,
      headers: { 'RateLimit-Policy': '"second";q=1;w=1', RateLimit: `"second";r=0;t=${Math.ceil(t / 1000)}` },
      body: 'ok',
    }
  }
}

describe('pacing', () => {
  it('waits for the reset instead of spending a 429 (X-RateLimit-*, sequential)', async () => {
    time.advance(10_000 - (time.now() % 10_000)) // start at a window boundary
    const start = time.now()
    server.plan('/fixed', fixedWindowServer(3, 10_000))
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep })
    const waits: string[] = []
    client.on('wait', (e) => waits.push(`${e.cause} ${e.delayMs}`))
    for (let i = 0; i < 7; i++) expect((await client('/fixed')).status).toBe(200)
    const hits = server.hits('/fixed')
    expect(hits.map((h) => h.at - start)).toEqual([0, 0, 0, 10_000, 10_000, 10_000, 20_000])
    expect(waits).toEqual(['exhausted 10000', 'exhausted 10000'])
    expect(client.budget(server.url)).toMatchObject({ limit: 3, remaining: 2, inFlight: 0 })
  })

  it('holds concurrent calls back and lets one probe after each reset (draft-10, token bucket)', async () => {
    server.plan('/bucket', oneTokenPerSecondServer())
    // An ideal network: the clock stands still while a request is in flight (the calls waiting for the
    // probe's answer have a deadline timer, which the virtual clock would otherwise run to at once).
    const client = createClient({
      baseUrl: server.url,
      now: time.now,
      sleep: time.sleep,
      fetch: (input, init) => time.during(fetch(input, init)),
    })
    const statuses: number[] = []
    client.on('response', (e) => statuses.push(e.status))
    const start = time.now()
    await client('/bucket')
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => client('/bucket')))
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(server.hits('/bucket').map((h) => h.at - start)).toEqual([0, 1000, 2000, 3000, 4000, 5000])
  })

  it('holds back from a threshold', async () => {
    time.advance(10_000 - (time.now() % 10_000))
    const start = time.now()
    server.plan('/threshold', fixedWindowServer(5, 10_000))
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, pace: { threshold: 2 } })
    for (let i = 0; i < 4; i++) await client('/threshold')
    expect(server.hits('/threshold').map((h) => h.at - start)).toEqual([0, 0, 0, 10_000])
  })

  it("makes the budget's other calls wait out a 429's Retry-After", async () => {
    server.plan('/coordinated', [{ status: 429, headers: { 'Retry-After': '5' } }, { status: 200 }])
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep })
    const start = time.now()
    await expect(client('/coordinated', { rateLimit: { retry: false } })).rejects.toMatchObject({ reason: 'not-retryable' })
    expect((await client('/coordinated')).status).toBe(200)
    expect(server.hits('/coordinated').map((h) => h.at - start)).toEqual([0, 5000])
  })

  it('gives up without sending when the reset is beyond maxWaitMs', async () => {
    time.advance(100_000 - (time.now() % 100_000))
    server.plan('/far', fixedWindowServer(1, 100_000))
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, maxWaitMs: 30_000 })
    await client('/far')
    const error = (await client('/far').catch((e: unknown) => e)) as RateLimitError
    expect(error).toMatchObject({
      code: 'ERR_RK_RATE_LIMITED',
      source: 'client',
      reason: 'max-wait',
      status: undefined,
      response: undefined,
      attempts: 0,
      remaining: 0,
      limit: 1,
      retryAfterMs: 100_000,
    })
    expect(server.hits('/far')).toHaveLength(1)
  })

  it('keeps budgets apart per origin, or per the key function', async () => {
    server.plan('/a', fixedWindowServer(1, 60_000))
    server.plan('/b', fixedWindowServer(1, 60_000))
    time.advance(60_000 - (time.now() % 60_000))
    const perPath = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, key: (url) => url.pathname })
    const start = time.now()
    await perPath('/a')
    await perPath('/b')
    expect([...server.hits('/a'), ...server.hits('/b')].map((h) => h.at - start)).toEqual([0, 0])
    expect(perPath.budget('/a')).toMatchObject({ remaining: 0 })
    expect(perPath.budget(server.url)).toBeUndefined()
  })

  it('can be turned off', async () => {
    time.advance(10_000 - (time.now() % 10_000))
    server.plan('/off', fixedWindowServer(1, 10_000))
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, pace: false, retry: false })
    await client('/off')
    await expect(client('/off')).rejects.toMatchObject({ status: 429 })
    expect(client.budget(server.url)).toBeUndefined()
  })
})

describe('pacing from the first call (pace.probeFirst)', () => {
  /** A client on the virtual clock whose network takes no time (see `during`). */
  const paced = (pace: { probeFirst?: boolean }, fetchImpl: typeof fetch = fetch) =>
    createClient({
      baseUrl: server.url,
      now: time.now,
      sleep: time.sleep,
      fetch: (input, init) => time.during(fetchImpl(input, init)),
      pace,
    })

  it('without it, the first concurrent wave goes blind and meets 429s', async () => {
    time.advance(10_000 - (time.now() % 10_000))
    server.plan('/blind', fixedWindowServer(3, 10_000))
    const client = paced({})
    const statuses: number[] = []
    client.on('response', (e) => statuses.push(e.status))
    await Promise.all(Array.from({ length: 7 }, () => client('/blind')))
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0)
  })

  it('sends one call first on a budget it knows nothing of, and no call meets a 429', async () => {
    time.advance(10_000 - (time.now() % 10_000))
    const start = time.now()
    server.plan('/cold', fixedWindowServer(3, 10_000))
    const client = paced({ probeFirst: true })
    const statuses: number[] = []
    client.on('response', (e) => statuses.push(e.status))
    const results = await Promise.all(Array.from({ length: 7 }, () => client('/cold')))
    expect(results.map((r) => r.status)).toEqual(Array(7).fill(200))
    expect(statuses).toEqual(Array(7).fill(200))
    expect(server.hits('/cold').map((h) => h.at - start)).toEqual([0, 0, 0, 10_000, 10_000, 10_000, 20_000])
  })

  it('lets the others go together once the first answer says nothing of a limit', async () => {
    server.plan('/plain', () => ({ status: 200, body: 'ok' }))
    let inFlight = 0
    let most = 0
    const client = paced({ probeFirst: true }, async (input, init) => {
      most = Math.max(most, ++inFlight)
      try {
        return await fetch(input, init)
      } finally {
        inFlight--
      }
    })
    await Promise.all(Array.from({ length: 6 }, () => client('/plain')))
    expect(server.hits('/plain')).toHaveLength(6)
    // The first alone, then the five others at once.
    expect(most).toBe(5)
  })

  it('hands the first place on when the first call ends without an answer', async () => {
    time.advance(10_000 - (time.now() % 10_000))
    server.plan('/flaky', fixedWindowServer(2, 10_000))
    let calls = 0
    const client = paced({ probeFirst: true }, (input, init) =>
      calls++ === 0 ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init),
    )
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => client('/flaky', { rateLimit: { retry: false } })))
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.status : 'failed'))).toEqual(['failed', 200, 200, 200])
    // Three answers, none a 429: the second call went first in the first one's place.
    expect(server.hits('/flaky')).toHaveLength(3)
  })

  it('is refused when it is not a boolean, naming the option', () => {
    expect(() => createClient({ pace: { probeFirst: 'yes' as unknown as boolean } })).toThrow(/pace\.probeFirst/)
  })
})
