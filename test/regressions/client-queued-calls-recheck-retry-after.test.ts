// A call leaving the queue re-checks the budget: a Retry-After that arrived while it was queued
// holds it back, instead of sending it into a known block.
import { createLimiter, tokenBucket } from 'ratekeeper'
import { createClient, type FetchFunction } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scriptedServer, virtualTime } from '../client/helpers.js'

const T0 = 1_700_000_000_000
let time = virtualTime(T0)
let server: Awaited<ReturnType<typeof scriptedServer>>
beforeAll(async () => {
  server = await scriptedServer(() => time.now())
  server.plan('/always', [{ status: 429, headers: { 'Retry-After': '30' }, body: { error_code: 'RATE_LIMITED' } }])
})
afterAll(() => server.close())

async function twentyAtOnce(queue: { concurrency?: number; rate?: { limit: number; window: string } }) {
  time = virtualTime(T0)
  const before = server.hits('/always').length
  // An ideal network: the clock stands still while a request is in flight.
  const fetchImpl: FetchFunction = (input, init) => time.during(fetch(input, init))
  const client = createClient({ baseUrl: server.url, fetch: fetchImpl, now: time.now, sleep: time.sleep, queue: queue as never })
  await Promise.allSettled(Array.from({ length: 20 }, () => client('/always')))
  return server
    .hits('/always')
    .slice(before)
    .map((h) => h.at - T0)
}

describe('a server that always answers 429 Retry-After: 30, 20 calls at once', () => {
  it('queue.rate 5/s: nothing is sent into the 30 s block once the first 429 is known', async () => {
    const sent = await twentyAtOnce({ rate: { limit: 5, window: '1s' } })
    // The first burst left before any answer came back; after it, nothing until the block ends.
    expect(sent.filter((t) => t === 0).length).toBeLessThanOrEqual(5)
    expect(sent.filter((t) => t > 0 && t < 30_000)).toEqual([])
  })

  it('queue.concurrency 1: one request, then nothing into the block', async () => {
    const sent = await twentyAtOnce({ concurrency: 1 })
    expect(sent.filter((t) => t === 0)).toHaveLength(1)
    expect(sent.filter((t) => t > 0 && t < 30_000)).toEqual([])
  })
})

describe('a call held back as it leaves the queue', () => {
  it('gives the units it took from the shared limiter back', async () => {
    time = virtualTime(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 10, window: '1h' })], now: time.now })
    const fetchImpl: FetchFunction = (input, init) => time.during(fetch(input, init))
    const client = createClient({
      baseUrl: server.url,
      fetch: fetchImpl,
      now: time.now,
      sleep: time.sleep,
      queue: { concurrency: 1 },
      limiter,
      retry: false,
      maxWaitMs: 10_000,
    })
    const settled = await Promise.allSettled(Array.from({ length: 5 }, () => client('/always')))
    expect(settled.map((s) => (s as PromiseRejectedResult).reason?.source)).toEqual(['server', 'client', 'client', 'client', 'client'])
    // One request was sent: one unit spent, the four others given back.
    expect((await limiter.peek(server.url)).remaining).toBe(9)
  })
})
