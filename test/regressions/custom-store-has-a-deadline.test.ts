// A store whose calls never settle (a backend that hangs) must not hang requests: the limiter
// gives every promise-returning store call a deadline (`timeoutMs`), then follows onStoreError.

import { describe, expect, it } from 'vitest'
import { withRateLimit } from '../../adapters/fetch.js'
import {
  type CasBackend,
  casStore,
  createLimiter,
  fixedWindow,
  type Store,
  type StoreError,
  type StoreErrorEvent,
  tokenBucket,
} from '../../src/index.js'

const policies = [fixedWindow({ name: 'per-minute', limit: 5, window: '1m' })]
const never = <T>(): Promise<T> => new Promise<T>(() => {})

/** A store whose every call returns a promise that never settles. */
function hangingStore(): Store {
  return { consume: never, peek: never, refund: never, reset: never, close: () => {} }
}

/** A compare-and-set backend that never answers. */
const hangingBackend: CasBackend = { get: never, commit: never, delete: never }

describe.each([
  { name: 'a custom store', make: hangingStore },
  { name: 'casStore over a backend that never answers', make: () => casStore({ backend: hangingBackend }) },
])('$name', ({ make }) => {
  it.each(['allow', 'deny'] as const)('consume and peek settle by the deadline and follow onStoreError %s', async (onStoreError) => {
    const limiter = createLimiter({ store: make(), policies, onStoreError, timeoutMs: 20 })
    const events: StoreErrorEvent[] = []
    limiter.on('store-error', (e) => events.push(e))
    for (const decision of [await limiter.consume('k'), await limiter.peek('k')]) {
      expect(decision.reason).toBe('store-error')
      expect(decision.allowed).toBe(onStoreError === 'allow')
      expect((decision.error as StoreError).code).toBe('ERR_RK_STORE_TIMEOUT')
    }
    expect(events.map((e) => (e.error as StoreError).code)).toEqual(['ERR_RK_STORE_TIMEOUT', 'ERR_RK_STORE_TIMEOUT'])
  })

  it('a refund settles by the deadline as a store-error decision, with the event', async () => {
    const limiter = createLimiter({ store: make(), policies, timeoutMs: 20 })
    const events: StoreErrorEvent[] = []
    limiter.on('store-error', (e) => events.push(e))
    const decision = await limiter.refund('k', { at: 0 })
    expect(decision.reason).toBe('store-error')
    expect(events).toHaveLength(1)
  })

  it('a reset rejects with ERR_RK_STORE_TIMEOUT', async () => {
    const limiter = createLimiter({ store: make(), policies, timeoutMs: 20 })
    await expect(limiter.reset('k')).rejects.toMatchObject({ code: 'ERR_RK_STORE_TIMEOUT' })
  })

  it("'fallback' decides on the fallback store when the store misses its deadline", async () => {
    const limiter = createLimiter({ store: make(), policies, onStoreError: 'fallback', timeoutMs: 20 })
    const decision = await limiter.consume('k')
    expect(decision.reason).toBe('ok')
    expect(decision.remaining).toBe(4)
  })
})

describe('the deadline through an adapter', () => {
  it('the Fetch adapter answers (allow: 200, deny: 503) instead of hanging', async () => {
    for (const [onStoreError, status] of [
      ['allow', 200],
      ['deny', 503],
    ] as const) {
      const handler = withRateLimit(async () => new Response('ok'), {
        policies,
        store: hangingStore(),
        onStoreError,
        timeoutMs: 20,
        ip: () => '203.0.113.7',
      })
      const response = await handler(new Request('http://localhost/'))
      expect(response.status).toBe(status)
    }
  })
})

describe('the timeoutMs option', () => {
  it('is validated', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '100', 120_000]) {
      expect(() => createLimiter({ policies, timeoutMs: bad as number })).toThrow(
        expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION' }),
      )
    }
  })

  it('adds no deadline to a store that declares its own (`timeoutMs` on the store)', async () => {
    let settle: (() => void) | undefined
    const store: Store & { timeoutMs: number } = {
      ...hangingStore(),
      timeoutMs: 60_000,
      consume: () =>
        new Promise((resolve) => {
          settle = () => resolve({ allowed: true, now: 0, results: [4, 60_000, 0] })
        }),
    }
    const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 5, window: '1m' })], timeoutMs: 1 })
    const pending = limiter.consume('k')
    // Well past the limiter's 1 ms: the store's own deadline (60 s) is the one that counts.
    await new Promise((resolve) => setTimeout(resolve, 30))
    settle?.()
    expect((await pending).reason).toBe('ok')
  })
})
