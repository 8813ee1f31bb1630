// Headers of concurrency policies: the draft-10 quota unit, no window, no `t` unless denied, and a
// jittered Retry-After for a concurrency denial only; the same from the general renderer and the
// one-policy renderer the adapters use.
import { describe, expect, it } from 'vitest'
import { jitteredSeconds } from '../../src/http/headers.js'
import { createRateLimitHeaders } from '../../src/http/index.js'
import { createPolicyListHeaders } from '../../src/http/policy-list-headers.js'
import { concurrency, createLimiter, type Policy, tokenBucket } from '../../src/index.js'

const AT = 1_782_192_000_000

async function twoInFlightThenDenied(policies: Policy[], cost = 1) {
  const limiter = createLimiter({ policies, now: () => AT })
  const first = await limiter.consume('k', { cost })
  await limiter.consume('k', { cost })
  const denied = await limiter.consume('k', { cost })
  return { first, denied }
}

describe('concurrency headers', () => {
  const inFlight = () => concurrency({ name: 'in-flight', limit: 2 })

  it.each([
    ['general', (_p: Policy[]) => createRateLimitHeaders({ retryJitter: () => 0 })],
    ['one policy', (p: Policy[]) => createPolicyListHeaders({ retryJitter: () => 0 }, p)],
  ])('%s renderer: qu="concurrent-requests" without w, r without t while admitted, t and Retry-After when denied', async (_, make) => {
    const policies = [inFlight()]
    const render = make(policies)
    const { first, denied } = await twoInFlightThenDenied(policies)
    const ok = render(first)
    expect(ok['RateLimit-Policy']).toBe('"in-flight";q=2;qu="concurrent-requests"')
    expect(ok.RateLimit).toBe('"in-flight";r=1')
    expect(ok['X-RateLimit-Limit']).toBe('2')
    expect(ok['X-RateLimit-Remaining']).toBe('1')
    const no = render(denied)
    expect(no.RateLimit).toBe('"in-flight";r=0;t=1')
    expect(no['Retry-After']).toBe('1')
  })

  it('jitters Retry-After of a concurrency denial from the hint up to twice it, by the injected source', async () => {
    const policies = [concurrency({ name: 'in-flight', limit: 1, retryAfter: '3s' })]
    const limiter = createLimiter({ policies, now: () => AT })
    await limiter.consume('k')
    const denied = await limiter.consume('k')
    const seen = [0, 0.3, 0.6, 0.99].map((r) => createPolicyListHeaders({ retryJitter: () => r }, policies)(denied)['Retry-After'])
    expect(seen).toEqual(['3', '4', '5', '6'])
    const general = [0, 0.99].map((r) => createRateLimitHeaders({ retryJitter: () => r })(denied)['Retry-After'])
    expect(general).toEqual(['3', '6'])
  })

  it('a bad jitter source (NaN, out of range) never yields less than the hint or more than twice it', () => {
    for (const r of [Number.NaN, -5, 7, Number.POSITIVE_INFINITY]) {
      const s = jitteredSeconds(2, () => r)
      expect(s).toBeGreaterThanOrEqual(2)
      expect(s).toBeLessThanOrEqual(4)
    }
  })

  it('a denial by a rate policy as well gets that policy exact wait, without jitter', async () => {
    const policies = [inFlight(), tokenBucket({ name: 'per-minute', limit: 2, window: '1m' })]
    const { denied } = await twoInFlightThenDenied(policies)
    expect(denied.violated).toEqual(['in-flight', 'per-minute'])
    const headers = createRateLimitHeaders({ retryJitter: () => 0.99 })(denied)
    expect(headers['Retry-After']).toBe('30')
  })

  it('refuses a retryJitter that is not a function', () => {
    expect(() => createRateLimitHeaders({ retryJitter: 0.5 as never })).toThrow(/"retryJitter" must be a function/)
  })
})
