// A Fetch handler may answer every request with one Response it keeps (a body-less 204 or 404
// made once: a Response without a body can be sent any number of times). The adapter wrote each
// request's rate-limit headers into that shared object: every client got the figures of whichever
// request wrote last (another client's remaining count), and the kept response carried them from
// then on. Seen failing on withRateLimit and Hono before the fix.
//
// Fixed in the shared Fetch helper (withHeaders, src/http/fetch-api.ts): a response without a body
// is copied before its headers are set (one with a body can be sent once, and is set in place).
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { rateLimit, withRateLimit } from '../../adapters/fetch.js'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

// At the start of a window: the reset is a whole minute away.
const limits = () => createLimiter({ policies: [fixedWindow({ limit: 10, window: '1m' })], now: clock(1_700_000_040_000).now })
const request = (user: string) => new Request('http://x/', { headers: { 'x-user': user } })
const key = (req: Request) => req.headers.get('x-user') ?? 'anonymous'

describe('a response the handler keeps and sends to every request', () => {
  it('withRateLimit: each client sees its own figures, the kept response none', async () => {
    const kept = new Response(null, { status: 204 })
    const handler = withRateLimit(() => kept, { limiter: limits(), key, ip: () => '192.0.2.1' })
    const a = await handler(request('a'))
    await handler(request('b'))
    await handler(request('b'))
    expect(a.status).toBe(204)
    expect(a.headers.get('ratelimit')).toBe('"10-per-1m";r=9;t=60')
    expect(kept.headers.get('ratelimit')).toBeNull()
  })

  it('Hono: each client sees its own figures, the kept response none', async () => {
    const kept = new Response(null, { status: 204 })
    const app = new Hono()
    app.use(rateLimit({ limiter: limits(), key, ip: () => '192.0.2.1' }))
    app.get('/', () => kept)
    const a = await app.fetch(request('a'))
    await app.fetch(request('b'))
    await app.fetch(request('b'))
    expect(a.status).toBe(204)
    expect(a.headers.get('ratelimit')).toBe('"10-per-1m";r=9;t=60')
    expect(kept.headers.get('ratelimit')).toBeNull()
  })
})
