// A custom store that answers garbage (null, an empty result list, NaN figures, `allowed: 'yes'`)
// must not yield an admission, a 500 or `X-RateLimit-Reset: NaN`: a malformed answer is a store
// error (ERR_RK_STORE_MALFORMED) and the limiter follows onStoreError.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { withRateLimit } from '../../adapters/fetch.js'
import { createLimiter, fixedWindow, type Store, type StoreError, type StoreErrorEvent, tokenBucket } from '../../src/index.js'

const policies = [fixedWindow({ name: 'per-minute', limit: 5, window: '1m' }), tokenBucket({ name: 'burst', limit: 2, window: '1s' })]
const GOOD = { allowed: true, now: 1_000, results: [4, 61_000, 0, 1, 1_500, 0] }

/** Answers that are not a StoreResult for a request of two policies. */
const malformed: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, undefined, 0, 'ok', true, [], {}, { allowed: true }, { allowed: true, now: 1_000 }),
  fc.constant({ ...GOOD, results: [] }),
  fc.constant({ ...GOOD, results: [4, 61_000, 0] }),
  fc.constant({ ...GOOD, results: 'xyz' }),
  fc.constant({ ...GOOD, now: Number.NaN }),
  fc.constant({ ...GOOD, now: '1000' }),
  fc.constantFrom('yes', 1, 'true', null, undefined).map((allowed) => ({ ...GOOD, allowed })),
  // One figure replaced by something that is not a usable number.
  fc
    .tuple(
      fc.integer({ min: 0, max: 5 }),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '4', null, undefined, -5, {}),
    )
    .map(([i, v]) => {
      const results: unknown[] = [...GOOD.results]
      results[i] = v
      return { ...GOOD, results }
    }),
  // Denied, yet no policy says why (every retry 0).
  fc.constant({ ...GOOD, allowed: false }),
)

function storeAnswering(answer: () => unknown, async: boolean): Store {
  const reply = () => (async ? Promise.resolve(answer()) : answer())
  return {
    consume: reply as Store['consume'],
    peek: reply as Store['peek'],
    refund: reply as Store['refund'],
    reset: () => {},
    close: () => {},
  }
}

describe('a malformed store answer', () => {
  it('is a store error with its own code, for consume, peek and refund, sync or async', async () => {
    await fc.assert(
      fc.asyncProperty(
        malformed,
        fc.boolean(),
        fc.constantFrom('allow', 'deny') as fc.Arbitrary<'allow' | 'deny'>,
        async (answer, async, mode) => {
          const limiter = createLimiter({ store: storeAnswering(() => answer, async), policies, onStoreError: mode })
          const events: StoreErrorEvent[] = []
          limiter.on('store-error', (e) => events.push(e))
          const decisions = [await limiter.consume('k'), await limiter.peek('k'), await limiter.refund('k', { at: 1_000 })]
          for (const decision of decisions) {
            expect(decision.reason).toBe('store-error')
            expect(decision.allowed).toBe(mode === 'allow')
            expect((decision.error as StoreError).code).toBe('ERR_RK_STORE_MALFORMED')
            expect(Number.isFinite(decision.resetAt)).toBe(true)
          }
          expect(events).toHaveLength(3)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('a well-formed answer still decides', async () => {
    const limiter = createLimiter({ store: storeAnswering(() => GOOD, true), policies })
    const decision = await limiter.consume('k')
    expect(decision.reason).toBe('ok')
    expect(decision.remaining).toBe(1)
  })

  it("with 'fallback', the fallback store decides", async () => {
    const limiter = createLimiter({ store: storeAnswering(() => ({ ...GOOD, allowed: 'yes' }), true), policies, onStoreError: 'fallback' })
    const decision = await limiter.consume('k')
    expect(decision.reason).toBe('ok')
    expect(decision.remaining).toBe(1)
  })

  it('through an adapter: never a 500 and never a NaN header', async () => {
    await fc.assert(
      fc.asyncProperty(malformed, fc.constantFrom('allow', 'deny') as fc.Arbitrary<'allow' | 'deny'>, async (answer, mode) => {
        const handler = withRateLimit(async () => new Response('ok'), {
          policies,
          store: storeAnswering(() => answer, false),
          onStoreError: mode,
          ip: () => '203.0.113.7',
        })
        const response = await handler(new Request('http://localhost/'))
        expect(response.status).toBe(mode === 'allow' ? 200 : 503)
        for (const [, value] of response.headers) expect(value).not.toMatch(/NaN|Infinity|undefined/)
      }),
      { numRuns: 60 },
    )
  })
})
