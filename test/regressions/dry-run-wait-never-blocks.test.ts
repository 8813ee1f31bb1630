// limiter.wait() on a dry-run limiter slept through every would-be denial, until the request was
// really admitted, and rejected a cost that can never fit with ERR_RK_WAIT: a job queue or an
// outgoing-call loop rolled out with `dryRun: true` was throttled for real, although a dry run
// reports and never blocks (the HTTP adapters let such requests through). wait() now returns the
// dry-run denial at once, as consume() does, and the caller goes on.
import { describe, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

function setup() {
  const c = clock(Date.UTC(2030, 0, 1))
  const slept: number[] = []
  const limiter = createLimiter({
    now: c.now,
    dryRun: true,
    policies: [tokenBucket({ name: 'outgoing', limit: 1, window: '1m' })],
    sleep: async (ms) => {
      slept.push(ms)
      c.advance(ms)
    },
  })
  return { limiter, slept }
}

describe('wait() on a dry-run limiter', () => {
  it('returns a would-be denial at once, marked dry-run, without sleeping', async () => {
    const { limiter, slept } = setup()
    expect((await limiter.wait('api.example.com')).allowed).toBe(true)
    const second = await limiter.wait('api.example.com')
    expect(second).toMatchObject({ allowed: false, dryRun: true, reason: 'limited', violated: ['outgoing'] })
    expect(second.retryAfterMs).toBe(60_000)
    expect(slept).toEqual([])
  })

  it('returns a cost that can never fit as its dry-run denial, rather than rejecting', async () => {
    const { limiter, slept } = setup()
    const d = await limiter.wait('api.example.com', { cost: 5 })
    expect(d).toMatchObject({ allowed: false, dryRun: true, reason: 'exceeds-capacity' })
    expect(slept).toEqual([])
  })
})
