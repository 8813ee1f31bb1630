import { createLimiter, RateKeeperError, tokenBucket } from 'ratekeeper'
import { createClient, RateLimitError, type RateLimitedFetch } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { scriptedServer, virtualTime } from './helpers.js'

let server: Awaited<ReturnType<typeof scriptedServer>>
beforeAll(async () => {
  server = await scriptedServer()
  server.plan('/ok', [{ status: 200, body: 'ok', headers: { 'X-RateLimit-Remaining': '9', 'X-RateLimit-Limit': '10' } }])
})
afterAll(() => server.close())

const bad = (options: unknown, code: string, option: string, received?: RegExp) => {
  let error: unknown
  try {
    createClient(options as never)
  } catch (e) {
    error = e
  }
  expect(error, `expected ${option} to be rejected`).toMatchObject({ code, option })
  if (received !== undefined) expect((error as Error).message).toMatch(received)
}

describe('createClient options', () => {
  it('rejects bad options with the option name, the value received and a stable code', () => {
    bad({ retries: 3 }, 'ERR_RK_UNKNOWN_OPTION', 'retries')
    bad({ retry: true }, 'ERR_RK_INVALID_OPTION', 'retry', /received true/)
    bad({ retry: { retries: -1 } }, 'ERR_RK_INVALID_OPTION', 'retry.retries', /received -1/)
    bad({ retry: { retries: 2.5 } }, 'ERR_RK_INVALID_OPTION', 'retry.retries')
    bad({ retry: { baseDelayMs: 5000, maxDelayMs: 100 } }, 'ERR_RK_INVALID_OPTION', 'retry.maxDelayMs')
    bad({ retry: { statuses: [200] } }, 'ERR_RK_INVALID_OPTION', 'retry.statuses')
    bad({ retry: { methods: ['GET '] } }, 'ERR_RK_INVALID_OPTION', 'retry.methods')
    bad({ retry: { jitter: 'full' } }, 'ERR_RK_UNKNOWN_OPTION', 'retry.jitter')
    bad({ pace: { threshold: -1 } }, 'ERR_RK_INVALID_OPTION', 'pace.threshold')
    bad({ pace: 0 }, 'ERR_RK_INVALID_OPTION', 'pace')
    bad({ queue: { concurrency: 0 } }, 'ERR_RK_INVALID_OPTION', 'queue.concurrency', /received 0/)
    bad({ queue: { rate: { limit: 10 } } }, 'ERR_RK_INVALID_OPTION', 'queue.rate.window', /received undefined/)
    bad({ queue: { rate: { limit: 10, window: '1 minute' } } }, 'ERR_RK_INVALID_OPTION', 'queue.rate.window', /"1 minute"/)
    bad({ queue: { rate: { limit: 0, window: '1s' } } }, 'ERR_RK_INVALID_OPTION', 'queue.rate.limit')
    bad({ limiter: {} }, 'ERR_RK_INVALID_OPTION', 'limiter')
    bad({ baseUrl: '/relative' }, 'ERR_RK_INVALID_OPTION', 'baseUrl')
    bad({ maxWaitMs: -5 }, 'ERR_RK_INVALID_OPTION', 'maxWaitMs')
    bad({ maxWaitMs: Number.NaN }, 'ERR_RK_INVALID_OPTION', 'maxWaitMs', /NaN/)
    bad({ onLimited: 'ignore' }, 'ERR_RK_INVALID_OPTION', 'onLimited')
    bad({ upstreamCodes: 'TOOL_ERROR' }, 'ERR_RK_INVALID_OPTION', 'upstreamCodes')
    bad({ xRateLimitReset: 'seconds' }, 'ERR_RK_INVALID_OPTION', 'xRateLimitReset')
    bad({ fetch: 'fetch' }, 'ERR_RK_INVALID_OPTION', 'fetch')
    bad({ sleep: 1 }, 'ERR_RK_INVALID_OPTION', 'sleep')
    bad(null, 'ERR_RK_INVALID_ARGUMENT', 'options')
  })

  it('rejects bad per-request options as a rejected promise, before sending', async () => {
    const client = createClient({ baseUrl: server.url })
    const before = server.hits('/ok').length
    await expect(client('/ok', { rateLimit: { retry: 'yes' as never } })).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_ARGUMENT',
      option: 'rateLimit.retry',
    })
    await expect(client('/ok', { rateLimit: { cost: 0 } })).rejects.toMatchObject({ option: 'rateLimit.cost' })
    await expect(client('/ok', { rateLimit: { key: '' } })).rejects.toMatchObject({ option: 'rateLimit.key' })
    await expect(client('/ok', { rateLimit: { maxWaitMs: -1 } })).rejects.toMatchObject({ option: 'rateLimit.maxWaitMs' })
    await expect(client('/ok', { rateLimit: { retires: 1 } as never })).rejects.toMatchObject({ code: 'ERR_RK_UNKNOWN_OPTION' })
    await expect(client(42 as never)).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'input' })
    expect(server.hits('/ok')).toHaveLength(before)
  })

  it('needs baseUrl for relative URLs and resolves them like new URL(input, baseUrl)', async () => {
    await expect(createClient()('/ok')).rejects.toThrow(/relative URLs need the baseUrl option/)
    const nested = createClient({ baseUrl: `${server.url}/v1/` })
    server.plan('/v1/items', [{ status: 200, body: 'items' }])
    expect(await (await nested('items')).text()).toBe('items')
    expect(await (await nested(new URL(`${server.url}/ok`))).text()).toBe('ok')
  })

  it('is a drop-in fetch', () => {
    expectTypeOf(createClient()).toMatchTypeOf<typeof fetch>()
    const f: typeof fetch = createClient()
    expect(typeof f).toBe('function')
    expectTypeOf<RateLimitedFetch['budget']>().returns.toMatchTypeOf<object | undefined>()
  })

  it('RateLimitError is a RateKeeperError with its own code, distinct from the body code', () => {
    const e = new RateLimitError('x', {
      reason: 'retries-exhausted',
      source: 'server',
      method: 'GET',
      url: 'http://x/',
      status: 429,
      errorCode: 'RATE_LIMITED',
      serverMessage: undefined,
      limit: undefined,
      remaining: undefined,
      resetAt: undefined,
      retryAfterMs: undefined,
      tier: undefined,
      rateLimit: undefined,
      response: undefined,
      body: undefined,
      attempts: 1,
      waitedMs: 0,
    })
    expect(e).toBeInstanceOf(RateKeeperError)
    expect(e).toBeInstanceOf(Error)
    expect([e.code, e.errorCode, e.name]).toEqual(['ERR_RK_RATE_LIMITED', 'RATE_LIMITED', 'RateLimitError'])
  })
})

describe('events', () => {
  it('reports every response, unsubscribes, and survives a listener that throws', async () => {
    const client = createClient({ baseUrl: server.url })
    const seen: number[] = []
    const off = client.on('response', (e) => seen.push(e.rateLimit.remaining ?? -1))
    client.on('response', () => {
      throw new Error('listener bug')
    })
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    await client('/ok')
    off()
    await client('/ok')
    await new Promise((r) => setImmediate(r))
    process.off('warning', onWarning)
    expect(seen).toEqual([9])
    expect(warnings.some((w) => w.includes('listener threw'))).toBe(true)
    expect(() => client.on('nope' as never, () => {})).toThrow(/event/)
  })

  it('a limiter passed in keeps its own clock and events', async () => {
    const time = virtualTime(1_700_000_000_000)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: time.now, sleep: time.sleep })
    const decisions: boolean[] = []
    limiter.on('decision', (d) => decisions.push(d.allowed))
    const client = createClient({ baseUrl: server.url, limiter, now: time.now, sleep: time.sleep })
    await Promise.all([client('/ok'), client('/ok')])
    expect(decisions).toEqual([true, false, true])
  })
})
