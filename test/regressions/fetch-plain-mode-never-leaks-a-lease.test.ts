// Plain Fetch mode (`await limit(request)`) never sees the handler's response: a concurrency
// lease it took must not stay held until it expires (every later request of the client would be
// refused for `leaseMs`). It is released at once, and the mode's limit is reported once.
import { describe, expect, it, vi } from 'vitest'
import { rateLimit } from '../../adapters/fetch.js'
import { concurrency, createLimiter } from '../../src/index.js'

describe('fetch plain mode with a concurrency policy', () => {
  it('releases at once and warns once; check() + complete() holds the slot until the body ends', async () => {
    const warn = vi.fn()
    const limiter = createLimiter({ policies: [concurrency({ name: 'in-flight', limit: 1 })], logger: { warn } })
    const limit = rateLimit({ limiter, key: () => 'k' })
    for (let i = 0; i < 3; i++) expect(await limit(new Request('http://x/'))).toBeUndefined()
    expect(warn.mock.calls.filter(([m]) => String(m).includes('plain mode'))).toHaveLength(1)

    const checked = await limit.check(new Request('http://x/'))
    const sent = checked.complete(new Response('body'))
    expect((await limit.check(new Request('http://x/'))).response?.status).toBe(429)
    await sent.text()
    expect((await limiter.peek('k', { cost: 0 })).remaining).toBe(1)
  })
})
