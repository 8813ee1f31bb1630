// The client against a server built with ratekeeper's own Express adapter: both sides share one
// virtual clock, so the server's windows and the client's waits agree and nothing waits in real time.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { createLimiter, fixedWindow, tokenBucket } from 'ratekeeper'
import { createClient, type RateLimitError } from 'ratekeeper/client'
import { rateLimit } from 'ratekeeper/express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { upstreamLimitedBody } from '../../src/http/upstream-body.js'
import { virtualTime } from './helpers.js'

const time = virtualTime(1_700_000_000_000)
let server: Server
let base = ''
const served: Record<string, number> = {}

beforeAll(async () => {
  const app = express()
  const count = (name: string) => (_req: express.Request, res: express.Response) => {
    served[name] = (served[name] ?? 0) + 1
    res.send('ok')
  }
  const key = () => 'one-client'
  // Token bucket, 3 per second: the default headers (X-RateLimit-* and draft-10).
  app.get('/bucket', rateLimit({ policies: [tokenBucket({ limit: 3, window: '1s' })], now: time.now, key }), count('bucket'))
  // A fixed window per minute in each older IETF dialect, and X-RateLimit-* alone.
  for (const standard of ['draft-7', 'draft-6', false] as const) {
    app.get(
      `/window-${standard}`,
      rateLimit({ policies: [fixedWindow({ limit: 2, window: '1m' })], now: time.now, key, headers: { standard } }),
      count(`window-${standard}`),
    )
  }
  // Scalekit's envelope, and an upstream provider's 429 passed through.
  const scalekit = createLimiter({ policies: [fixedWindow({ limit: 1, window: '1h' })], now: time.now })
  app.post('/scalekit', rateLimit({ limiter: scalekit, key, body: 'scalekit' }), count('scalekit'))
  app.post('/tool', (_req, res) => {
    const { status, contentType, body } = upstreamLimitedBody({ format: 'scalekit', provider: 'hubspot', retryAfterMs: 120_000 })
    res.status(status).type(contentType).set('Retry-After', '120').send(body)
  })
  server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

describe('client against ratekeeper/express', () => {
  it('paces sequential calls so that not one 429 is spent (token bucket, draft-10 + X-RateLimit-*)', async () => {
    const client = createClient({ baseUrl: base, now: time.now, sleep: time.sleep })
    const statuses: number[] = []
    client.on('response', (e) => statuses.push(e.status))
    for (let i = 0; i < 9; i++) expect((await client('/bucket')).status).toBe(200)
    expect(statuses.filter((s) => s === 429)).toEqual([])
    expect(served.bucket).toBe(9)
    expect(client.budget(base)?.lastInfo?.dialects).toEqual(['draft-10', 'x-ratelimit'])
  })

  it.each(['draft-7', 'draft-6', false] as const)('paces on a fixed window with standard headers %s', async (standard) => {
    const path = `/window-${standard}`
    time.advance(60_000 - (time.now() % 60_000))
    const client = createClient({ baseUrl: base, now: time.now, sleep: time.sleep })
    const statuses: number[] = []
    client.on('response', (e) => statuses.push(e.status))
    const start = time.now()
    for (let i = 0; i < 5; i++) expect((await client(path)).status).toBe(200)
    expect(statuses).toEqual([200, 200, 200, 200, 200])
    expect(time.now() - start).toBe(120_000)
    expect(client.budget(base)?.lastInfo?.dialect).toBe(standard === false ? 'x-ratelimit' : standard)
  })

  it('rides out a concurrent burst with retries, and every call succeeds', async () => {
    time.advance(10_000)
    // The clock stands still while a request is in flight (as in the queue test below): otherwise a
    // pending timer can jump virtual time while a real request is on its way.
    const client = createClient({
      baseUrl: base,
      now: time.now,
      sleep: time.sleep,
      random: () => 0.5,
      fetch: (input, init) => time.during(fetch(input, init)),
    })
    let limited = 0
    client.on('response', (e) => {
      if (e.status === 429) limited++
    })
    const before = served.bucket
    const results = await Promise.all(Array.from({ length: 8 }, () => client('/bucket')))
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200))
    expect(served.bucket - before).toBe(8)
    // The first wave learns the hard way (at most 5 of 8 over the burst of 3). Its retries all wake
    // at Retry-After (1 s), when the bucket holds 3 again: at most 2 of them meet one more 429.
    expect(limited).toBeLessThanOrEqual(7)
  })

  it('with a queue at the server’s own rate, never sees a 429 even when called concurrently', async () => {
    time.advance(10_000)
    // An ideal network (the clock stands still while a request is in flight): sent 333 ms apart means arriving 333 ms apart.
    // Over a real network, jitter can bunch arrivals: queue slightly below the server's rate, and let retries absorb the rest.
    const client = createClient({
      baseUrl: base,
      now: time.now,
      sleep: time.sleep,
      fetch: (input, init) => time.during(fetch(input, init)),
      queue: { rate: { limit: 3, window: '1s' } },
    })
    const statuses: number[] = []
    client.on('response', (e) => statuses.push(e.status))
    await Promise.all(Array.from({ length: 12 }, () => client('/bucket')))
    expect(statuses).toEqual(Array(12).fill(200))
  })

  it("tells the API's own limit (RATE_LIMITED) from an upstream provider's (TOOL_ERROR)", async () => {
    // With pacing, the client knows the hour's budget is spent and does not even send the second call.
    const paced = createClient({ baseUrl: base, now: time.now, sleep: time.sleep, maxWaitMs: 5000 })
    expect((await paced('/scalekit', { method: 'POST' })).status).toBe(200)
    await expect(paced('/scalekit', { method: 'POST' })).rejects.toMatchObject({ source: 'client', reason: 'max-wait', remaining: 0 })
    expect(served.scalekit).toBe(1)
    // Without pacing, it asks, and reads the server's answer.
    const client = createClient({ baseUrl: base, now: time.now, sleep: time.sleep, maxWaitMs: 5000, pace: false })
    const own = (await client('/scalekit', { method: 'POST', rateLimit: { retry: true } }).catch((e: unknown) => e)) as RateLimitError
    expect(own).toMatchObject({
      name: 'RateLimitError',
      status: 429,
      errorCode: 'RATE_LIMITED',
      source: 'server',
      reason: 'max-wait',
      limit: 1,
      remaining: 0,
    })
    const upstream = (await client('/tool', { method: 'POST', rateLimit: { retry: true } }).catch((e: unknown) => e)) as RateLimitError
    expect(upstream).toMatchObject({ status: 429, errorCode: 'TOOL_ERROR', source: 'upstream', retryAfterMs: 120_000 })
    expect(upstream.serverMessage).toMatch(/hubspot/)
  })
})
