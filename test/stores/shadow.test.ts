// Shadow policies on every store: memory, casStore, Redis and Redis Cluster run one suite. A
// shadow policy is decided and counted in its own state, never denies, and is charged exactly
// when an enforced run of it would have been: when every policy of the request admits.

import { describe, expect, it } from 'vitest'
import {
  concurrency,
  createLimiter,
  type Decision,
  fixedWindow,
  type Limiter,
  type Policy,
  type Store,
  slidingWindow,
  tokenBucket,
} from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { describeRedisStores } from '../helpers/redis-store-suite.js'
import { STORES } from '../limiter/concurrency-stores.js'

const T0 = Date.UTC(2030, 4, 17, 12, 0, 0)

const shadowOf = (d: Decision, name: string) => {
  const p = d.policies.find((x) => x.name === name)
  if (p === undefined) throw new Error(`no policy ${name}`)
  return p
}

/** The suite, on a store made by `newStore` with the test's clock. */
function shadowSuite(newStore: (now: () => number) => Store): void {
  let n = 0
  const setup = (policies: readonly Policy[], extra: { dryRun?: boolean } = {}) => {
    const c = clock(T0)
    const store = newStore(c.now)
    const limiter: Limiter = createLimiter({ store, policies, now: c.now, onStoreError: 'deny', ...extra })
    return { c, limiter, key: `k${n++}-${Math.random().toString(36).slice(2, 8)}` }
  }

  it('never denies: a request the enforcing policies admit is admitted, the shadow verdict reported beside it', async () => {
    const { limiter, key } = setup([
      tokenBucket({ name: 'old', limit: 10, window: '1m' }),
      fixedWindow({ name: 'new', limit: 2, window: '1m', shadow: true }),
    ])
    const shadowLimited: Decision[] = []
    const limited: Decision[] = []
    limiter.on('shadow-limited', (d) => shadowLimited.push(d))
    limiter.on('limited', (d) => limited.push(d))
    const d1 = await limiter.consume(key)
    const d2 = await limiter.consume(key)
    const d3 = await limiter.consume(key)
    expect([d1.allowed, d2.allowed, d3.allowed]).toEqual([true, true, true])
    expect([d1.shadowViolated, d2.shadowViolated, d3.shadowViolated]).toEqual([[], [], ['new']])
    expect(d3.violated).toEqual([])
    expect(d3.reason).toBe('ok')
    // The headline is the enforcing policy's, whatever the shadow says.
    expect([d3.limit, d3.remaining, d3.retryAfterMs]).toEqual([10, 7, 0])
    const p = shadowOf(d3, 'new')
    expect(p.shadow).toBe(true)
    expect(p.violated).toBe(false)
    expect(p.remaining).toBe(0)
    expect(p.retryAfterMs).toBeGreaterThan(0)
    expect(shadowOf(d3, 'old').shadow).toBe(false)
    expect(shadowLimited).toEqual([d3])
    expect(limited).toEqual([])
  })

  it('is not charged when an enforcing policy denies (an enforced run charges nothing then)', async () => {
    const { limiter, key } = setup([
      fixedWindow({ name: 'old', limit: 1, window: '1m' }),
      slidingWindow({ name: 'new', limit: 5, window: '1m', shadow: true }),
    ])
    expect((await limiter.consume(key)).allowed).toBe(true)
    const denied = await limiter.consume(key)
    expect(denied.allowed).toBe(false)
    expect(denied.violated).toEqual(['old'])
    expect(denied.shadowViolated).toEqual([])
    await limiter.consume(key)
    expect(shadowOf(await limiter.peek(key, { cost: 0 }), 'new').remaining).toBe(4)
  })

  it('charges the shadow policies all or nothing: one that would deny keeps the others uncharged too', async () => {
    const { limiter, key } = setup([
      tokenBucket({ name: 'old', limit: 100, window: '1m' }),
      fixedWindow({ name: 'wide', limit: 5, window: '1m', shadow: true }),
      tokenBucket({ name: 'tight', limit: 1, window: '1h', shadow: true }),
    ])
    await limiter.consume(key)
    const d2 = await limiter.consume(key)
    expect(d2.allowed).toBe(true)
    expect(d2.shadowViolated).toEqual(['tight'])
    const look = await limiter.peek(key, { cost: 0 })
    expect(shadowOf(look, 'wide').remaining).toBe(4)
    expect(look.remaining).toBe(98)
  })

  it('keeps its state when rolled out: the same policy made enforcing denies as the shadow said', async () => {
    const c = clock(T0)
    const store = newStore(c.now)
    const key = `rollout-${Math.random()}`
    const base = tokenBucket({ name: 'old', limit: 100, window: '1m' })
    const watching = createLimiter({
      store,
      now: c.now,
      policies: [base, fixedWindow({ name: 'new', limit: 2, window: '1m', shadow: true })],
    })
    await watching.consume(key)
    await watching.consume(key)
    const enforcing = createLimiter({ store, now: c.now, policies: [base, fixedWindow({ name: 'new', limit: 2, window: '1m' })] })
    const d = await enforcing.consume(key)
    expect(d.allowed).toBe(false)
    expect(d.violated).toEqual(['new'])
  })

  it('refunds and settles only what was charged: a shadow-limited decision never credits its shadow policies', async () => {
    const { limiter, key } = setup([
      fixedWindow({ name: 'old', limit: 10, window: '1m' }),
      fixedWindow({ name: 'new', limit: 1, window: '1m', shadow: true }),
    ])
    await limiter.consume(key)
    const limitedByShadow = await limiter.consume(key)
    expect(limitedByShadow.shadowViolated).toEqual(['new'])
    const back = await limiter.refund(key, { decision: limitedByShadow })
    // The refund reports what it gave back to: the enforcing policy alone.
    expect(back.policies.map((p) => p.name)).toEqual(['old'])
    expect(back.remaining).toBe(9)
    expect(shadowOf(await limiter.peek(key, { cost: 0 }), 'new').remaining).toBe(0)
    const again = await limiter.consume(key)
    expect(again.shadowViolated).toEqual(['new'])
    await limiter.settle(again, 3)
    const look = await limiter.peek(key, { cost: 0 })
    expect(look.remaining).toBe(6)
    expect(shadowOf(look, 'new').remaining).toBe(0)
  })

  it('a shadow concurrency limit takes a lease only when it would admit, and release gives it back', async () => {
    const { limiter, key } = setup([
      tokenBucket({ name: 'rate', limit: 100, window: '1m' }),
      concurrency({ name: 'in-flight', limit: 1, leaseMs: '1m', shadow: true }),
    ])
    const d1 = await limiter.consume(key)
    const d2 = await limiter.consume(key)
    expect([d1.allowed, d2.allowed]).toEqual([true, true])
    expect([d1.shadowViolated, d2.shadowViolated]).toEqual([[], ['in-flight']])
    await limiter.release(d2)
    expect((await limiter.consume(key)).shadowViolated).toEqual(['in-flight'])
    await limiter.release(d1)
    const d4 = await limiter.consume(key)
    expect(d4.shadowViolated).toEqual([])
    await limiter.release(d4)
    expect(shadowOf(await limiter.peek(key, { cost: 0 }), 'in-flight').remaining).toBe(1)
  })

  it('a limiter of shadow policies alone admits everything and has no headline', async () => {
    const { limiter, key } = setup([fixedWindow({ name: 'new', limit: 1, window: '1m', shadow: true })])
    const d1 = await limiter.consume(key)
    const d2 = await limiter.consume(key)
    expect([d1.allowed, d2.allowed]).toEqual([true, true])
    expect(d2.shadowViolated).toEqual(['new'])
    expect([d2.limit, d2.remaining, d2.retryAfterMs]).toEqual([0, 0, 0])
  })

  it('a shadow policy says nothing about a dry-run denial, which stays the enforcing policies’', async () => {
    const { limiter, key } = setup(
      [fixedWindow({ name: 'old', limit: 1, window: '1m' }), fixedWindow({ name: 'new', limit: 1, window: '1m', shadow: true })],
      { dryRun: true },
    )
    await limiter.consume(key)
    const d = await limiter.consume(key)
    expect(d.allowed).toBe(false)
    expect(d.dryRun).toBe(true)
    expect(d.violated).toEqual(['old'])
  })
}

describe.each(STORES)('shadow policies on %s', (_name, newStore) => {
  shadowSuite(newStore)
})

describeRedisStores('shadow policies', 'shadow', { clock: 'caller', timeoutMs: 5000 }, (newStore, on) => {
  shadowSuite(() => newStore())
  if (on !== 'Redis') return

  it('the deny cache holds a denial only as long as the enforcing policies deny, whatever the shadow ones say', async () => {
    const c = clock(T0)
    const store = newStore({ denyCache: true })
    const limiter = createLimiter({
      store,
      now: c.now,
      policies: [fixedWindow({ name: 'old', limit: 1, window: '1s' }), fixedWindow({ name: 'new', limit: 1, window: '1h', shadow: true })],
    })
    const key = `cache-${Math.random()}`
    expect((await limiter.consume(key)).allowed).toBe(true)
    expect((await limiter.consume(key)).allowed).toBe(false)
    c.advance(1000)
    const later = await limiter.consume(key)
    expect(later.allowed).toBe(true)
    expect(later.shadowViolated).toEqual(['new'])
  })
})
