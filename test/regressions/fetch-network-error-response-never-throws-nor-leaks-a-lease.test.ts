// A Fetch handler may answer `Response.error()` (a network error: status 0, headers that can't be
// changed). Adding the rate-limit headers copied it, and a Response can't be made with status 0:
// a RangeError was thrown out of withRateLimit() and Hono's middleware (a 500 from Hono), before
// the end of the request was reported, so a concurrency lease stayed held until it expired and
// the client's next request was refused. The response now goes out as it is, with no headers (a
// network error carries none), and the request ends at once, as a hang-up.
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { rateLimit, withRateLimit } from '../../adapters/fetch.js'
import { concurrency, createLimiter } from '../../src/index.js'

const inFlight = () => createLimiter({ policies: [concurrency({ name: 'in-flight', limit: 1 })] })

describe('a handler answering Response.error()', () => {
  it('withRateLimit() returns it and frees the lease', async () => {
    const limiter = inFlight()
    const handler = withRateLimit(() => Response.error(), { limiter, key: () => 'k' })
    for (let i = 0; i < 3; i++) {
      const response = await handler(new Request('http://x/'))
      expect(response.type).toBe('error')
    }
    expect((await limiter.peek('k', { cost: 0 })).remaining).toBe(1)
  })

  it('Hono mode passes it on and frees the lease', async () => {
    const limiter = inFlight()
    const app = new Hono()
    app.use(rateLimit({ limiter, key: () => 'k' }))
    app.get('/', () => Response.error())
    for (let i = 0; i < 3; i++) expect((await app.request('/')).status).not.toBe(429)
    expect((await limiter.peek('k', { cost: 0 })).remaining).toBe(1)
  })

  it('check() + complete() returns it and frees the lease', async () => {
    const limiter = inFlight()
    const limit = rateLimit({ limiter, key: () => 'k' })
    const checked = await limit.check(new Request('http://x/'))
    expect(checked.complete(Response.error()).type).toBe('error')
    expect((await limiter.peek('k', { cost: 0 })).remaining).toBe(1)
  })
})
