import type { FastifyInstance } from 'fastify'
import type { Limiter } from 'ratekeeper'
import { afterEach, describe, expect, it } from 'vitest'
import { createApp, DOC_URL, TEAM_CEILING } from '../../examples/seeds/managed-dev.js'
import { clock } from '../helpers/clock.js'

// The page's own example instant: X-RateLimit-Reset 1782192000 is 2026-06-23T05:20:00Z.
const T0 = 1782192000 * 1000 - 60_000
const TEAMS: Record<string, string> = { mfk_live_1: 'acme', mfk_live_2: 'acme', mfk_live_3: 'acme' }

let built: { app: FastifyInstance; limiter: Limiter } | undefined
afterEach(async () => {
  await built?.app.close()
  await built?.limiter.close()
  built = undefined
})

async function start() {
  const c = clock(T0)
  const lookups: string[] = []
  built = await createApp({
    now: c.now,
    teamOf: async (key) => {
      lookups.push(key)
      return TEAMS[key]
    },
  })
  const { app } = built
  const send = (method: 'GET' | 'POST' | 'DELETE' | 'PATCH', url: string, key: string) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${key}` } })
  return { c, send, lookups, app, limiter: built.limiter }
}

describe('seed: managed.dev (examples/seeds/managed-dev.ts)', () => {
  it('every response carries X-RateLimit-Limit/-Remaining/-Reset of the bucket it drew from', async () => {
    const { send } = await start()
    const read = await send('GET', '/v1/runs', 'mfk_live_1')
    expect(read.statusCode).toBe(200)
    expect(read.headers['x-ratelimit-limit']).toBe('1000')
    expect(read.headers['x-ratelimit-remaining']).toBe('999')
    expect(read.headers['x-ratelimit-reset']).toBe(String(T0 / 1000 + 1))
    expect(read.headers['retry-after']).toBeUndefined()
    expect(read.headers.ratelimit).toBeUndefined()
    const write = await send('POST', '/v1/runs', 'mfk_live_1')
    expect(write.headers['x-ratelimit-limit']).toBe('100')
    const del = await send('DELETE', '/v1/runs/run_1', 'mfk_live_1')
    expect(del.headers['x-ratelimit-limit']).toBe('100')
    expect(del.headers['x-ratelimit-remaining']).toBe('98') // DELETE counts as a write
    const create = await send('POST', '/v1/jobs', 'mfk_live_1')
    expect(create.headers['x-ratelimit-limit']).toBe('5')
    expect(create.headers['x-ratelimit-remaining']).toBe('4')
  })

  it('a full write bucket: 429 with Retry-After and the standard error envelope', async () => {
    const { send } = await start()
    for (let i = 0; i < 100; i++) expect((await send('POST', '/v1/runs', 'mfk_live_1')).statusCode).toBe(201)
    const denied = await send('POST', '/v1/runs', 'mfk_live_1')
    expect(denied.statusCode).toBe(429)
    expect(denied.headers).toMatchObject({ 'retry-after': '1', 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '0' })
    const body = JSON.parse(denied.body)
    expect(body).toEqual({
      error: { type: 'rate_limit', code: 'rate_limit.exceeded', message: 'rate limit exceeded; retry after 1s', doc_url: DOC_URL },
      request_id: expect.stringMatching(/^req_[0-9A-F]{10}$/),
    })
    // Reads are another bucket.
    expect((await send('GET', '/v1/runs', 'mfk_live_1')).statusCode).toBe(200)
  })

  it('create: 5 per minute, then "retry after 12s"', async () => {
    const { send } = await start()
    for (let i = 0; i < 5; i++) expect((await send('POST', '/v1/jobs', 'mfk_live_1')).statusCode).toBe(202)
    const denied = await send('POST', '/v1/jobs', 'mfk_live_1')
    expect(denied.statusCode).toBe(429)
    expect(denied.headers['retry-after']).toBe('12')
    expect(denied.headers['x-ratelimit-reset']).toBe(String(T0 / 1000 + 60))
    expect(JSON.parse(denied.body).error.message).toBe('rate limit exceeded; retry after 12s')
  })

  it('two layers: the per-team ceiling (5,000/min over all keys) must pass too', async () => {
    const { send, limiter, lookups } = await start()
    // The team has spent 4,990 of its minute through other keys.
    expect((await limiter.consume('team:acme', { cost: 4_990, policies: TEAM_CEILING })).allowed).toBe(true)
    for (let i = 0; i < 5; i++) expect((await send('GET', '/v1/runs', 'mfk_live_1')).statusCode).toBe(200)
    for (let i = 0; i < 5; i++) expect((await send('GET', '/v1/runs', 'mfk_live_2')).statusCode).toBe(200)
    const denied = await send('GET', '/v1/runs', 'mfk_live_3')
    expect(denied.statusCode).toBe(429)
    expect(denied.headers['x-ratelimit-limit']).toBe('5000')
    // A key of another team (or none) is unaffected.
    expect((await send('GET', '/v1/runs', 'mfk_live_solo')).statusCode).toBe(200)
    // The team lookup ran once per key (cached for a minute).
    expect(lookups.sort()).toEqual(['mfk_live_1', 'mfk_live_2', 'mfk_live_3', 'mfk_live_solo'])
  })

  it('GET /v1/rate-limits reproduces the page’s example response', async () => {
    const { send } = await start()
    // (The clock stands still: token buckets refill continuously, so a moment later a few would be back.)
    // The page's state: 6 reads and 1 create by this key, 20 requests by its team in all.
    for (let i = 0; i < 6; i++) await send('GET', '/v1/runs', 'mfk_live_1')
    await send('POST', '/v1/jobs', 'mfk_live_1')
    for (let i = 0; i < 13; i++) await send('GET', '/v1/runs', 'mfk_live_2')
    const res = await send('GET', '/v1/rate-limits', 'mfk_live_1')
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const body = JSON.parse(res.body)
    expect(body).toEqual({
      data: {
        buckets: [
          { class: 'read', limit: 1000, remaining: 994, reset: T0 / 1000 + 1 },
          { class: 'write', limit: 100, remaining: 100, reset: T0 / 1000 }, // full: now
          { class: 'create', limit: 5, remaining: 4, reset: T0 / 1000 + 12 },
        ],
        team_ceiling: { limit: 5000, remaining: 4980, reset: T0 / 1000 + 1 },
      },
      request_id: expect.stringMatching(/^req_/),
    })
    // Asking changes nothing.
    expect(JSON.parse((await send('GET', '/v1/rate-limits', 'mfk_live_1')).body).data).toEqual(body.data)
  })
})
