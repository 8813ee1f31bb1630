// limiter.settle(decision, actualCost): a decision reserved its cost as an estimate; the settle gives
// the unused part back or charges the extra, past the limit if need be (debt), once, into the store
// that charged. On the memory store and casStore, with an injected clock.

import { describe, expect, it } from 'vitest'
import {
  concurrency,
  createLimiter,
  type Decision,
  fixedWindow,
  type LimiterOptions,
  MemoryStore,
  type Policy,
  type Store,
  slidingWindow,
  tokenBucket,
} from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { flakyStore, STORES } from './concurrency-stores.js'

const T0 = 1_700_000_000_000
const quiet = { warn: () => {} }

describe.each(STORES)('limiter.settle on %s', (_name, newStore) => {
  function setup(policies: Policy[] = [tokenBucket({ name: 'tokens', limit: 100, window: '1h' })], options: Partial<LimiterOptions> = {}) {
    const c = clock(T0)
    const store = newStore(c.now)
    const limiter = createLimiter({ store, now: c.now, policies, logger: quiet, ...options })
    const left = async (key = 'k') => (await limiter.peek(key)).remaining
    return { c, store, limiter, left }
  }

  it('an actual cost below the estimate gives the rest back', async () => {
    const { limiter, left } = setup()
    const d = await limiter.consume('k', { cost: 10 })
    expect(d.remaining).toBe(90)
    const settled = await limiter.settle(d, 4)
    expect(settled.remaining).toBe(96)
    expect(await left()).toBe(96)
  })

  it('an actual cost above the estimate charges the difference', async () => {
    const { limiter, left } = setup()
    const d = await limiter.consume('k', { cost: 10 })
    expect((await limiter.settle(d, 15)).remaining).toBe(85)
    expect(await left()).toBe(85)
  })

  it('an actual cost equal to the estimate changes nothing', async () => {
    const { limiter, left } = setup()
    const d = await limiter.consume('k', { cost: 10 })
    expect((await limiter.settle(d, 10)).remaining).toBe(90)
    expect(await left()).toBe(90)
  })

  it('settles into every policy of the decision (windows too)', async () => {
    const { limiter } = setup([
      tokenBucket({ name: 'tokens', limit: 100, window: '1h' }),
      fixedWindow({ name: 'hourly', limit: 50, window: '1h' }),
      slidingWindow({ name: 'sliding', limit: 70, window: '1h' }),
    ])
    const d = await limiter.consume('k', { cost: 10 })
    await limiter.settle(d, 30)
    expect((await limiter.peek('k')).policies.map((p) => p.remaining)).toEqual([70, 20, 40])
    const e = await limiter.consume('k', { cost: 10 })
    await limiter.settle(e, 0)
    expect((await limiter.peek('k')).policies.map((p) => p.remaining)).toEqual([70, 20, 40])
  })

  it('above the limit, the policy goes into debt: remaining shows 0, never negative, and later requests wait it out', async () => {
    // 10 tokens, refilled at 1 per second.
    const { c, limiter } = setup([tokenBucket({ name: 'tokens', limit: 10, window: '10s' })], {
      sleep: async (ms) => c.advance(ms),
    })
    const d = await limiter.consume('k', { cost: 10 })
    const settled = await limiter.settle(d, 25)
    expect(settled).toMatchObject({ allowed: true, remaining: 0 })
    expect(settled.policies[0].remaining).toBe(0)
    // 15 tokens owed: a request of 1 fits once 16 have refilled (the debt, then its own).
    const denied = await limiter.consume('k')
    expect(denied).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 16_000 })
    c.advance(15_999)
    expect((await limiter.consume('k')).allowed).toBe(false)
    c.advance(1)
    expect((await limiter.consume('k')).allowed).toBe(true)
    // wait() sleeps out a debt the same way.
    const e = await limiter.consume('k', { cost: 0 })
    await limiter.settle(e, 5)
    const start = c.now()
    expect((await limiter.wait('k')).allowed).toBe(true)
    expect(c.now() - start).toBe(6_000)
  })

  it('a fixed window in debt stays spent until its end; the next window starts full', async () => {
    const { c, limiter, left } = setup([fixedWindow({ name: 'per-minute', limit: 10, window: '1m' })])
    c.set(Math.ceil(T0 / 60_000) * 60_000)
    const a = await limiter.consume('k', { cost: 5 })
    const b = await limiter.consume('k', { cost: 5 })
    const settled = await limiter.settle(a, 40)
    expect(settled.remaining).toBe(0)
    expect((await limiter.consume('k')).allowed).toBe(false)
    // The debt is counted, not clamped at the limit: giving back b's 5 still leaves the window overdrawn.
    await limiter.settle(b, 0)
    expect(await left()).toBe(0)
    c.advance(60_000)
    expect(await left()).toBe(10)
  })

  it('settles once: a second settle changes nothing', async () => {
    const { limiter, left } = setup()
    const d = await limiter.consume('k', { cost: 10 })
    await limiter.settle(d, 15)
    expect((await limiter.settle(d, 15)).remaining).toBe(85)
    expect((await limiter.settle(d, 0)).remaining).toBe(85)
    expect(await left()).toBe(85)
  })

  it('a settle after a refund of the decision changes nothing, nor a refund after a settle', async () => {
    const { limiter, left } = setup()
    const a = await limiter.consume('k', { cost: 10 })
    await limiter.refund('k', { decision: a })
    expect(await left()).toBe(100)
    expect((await limiter.settle(a, 30)).remaining).toBe(100)
    expect(await left()).toBe(100)

    const b = await limiter.consume('k', { cost: 10 })
    await limiter.settle(b, 4)
    expect(await left()).toBe(96)
    await limiter.refund('k', { decision: b })
    expect(await left()).toBe(96)
  })

  it('a denied decision charged nothing: its settle charges nothing', async () => {
    const { limiter, left } = setup([tokenBucket({ name: 'tokens', limit: 10, window: '1h' })])
    await limiter.consume('k', { cost: 8 })
    const denied = await limiter.consume('k', { cost: 5 })
    expect(denied.allowed).toBe(false)
    expect((await limiter.settle(denied, 1)).remaining).toBe(2)
    expect((await limiter.settle(denied, 9)).remaining).toBe(2)
    expect(await left()).toBe(2)
  })

  it('a dry-run decision let through charged nothing: its settle charges nothing', async () => {
    const { limiter, left } = setup([tokenBucket({ name: 'tokens', limit: 10, window: '1h' })], { dryRun: true })
    await limiter.consume('k', { cost: 8 })
    const over = await limiter.consume('k', { cost: 5 })
    expect(over).toMatchObject({ allowed: false, dryRun: true })
    await limiter.settle(over, 9)
    expect(await left()).toBe(2)
  })

  it('a decision made while the store was down charged nothing: its settle charges nothing', async () => {
    const c = clock(T0)
    const store = flakyStore(newStore(c.now))
    const limiter = createLimiter({
      store,
      now: c.now,
      policies: [tokenBucket({ name: 'tokens', limit: 100, window: '1h' })],
      logger: quiet,
    })
    store.down = true
    const d = await limiter.consume('k', { cost: 10 })
    expect(d).toMatchObject({ allowed: true, reason: 'store-error' })
    store.down = false
    await limiter.settle(d, 50)
    expect((await limiter.peek('k')).remaining).toBe(100)
  })

  it('settles a reservation the fallback made during an outage in the fallback', async () => {
    const c = clock(T0)
    const main = flakyStore(newStore(c.now))
    const fallback = new MemoryStore()
    const policies = [tokenBucket({ name: 'tokens', limit: 100, window: '1h' })]
    const limiter = createLimiter({ store: main, fallback, onStoreError: 'fallback', now: c.now, policies, logger: quiet })
    const inMain = createLimiter({ store: main, now: c.now, policies })
    const inFallback = createLimiter({ store: fallback, now: c.now, policies })
    const before = await limiter.consume('k', { cost: 10 })
    main.down = true
    const during = await limiter.consume('k', { cost: 10 })
    expect(during.reason).toBe('ok')
    main.down = false
    await limiter.settle(during, 30)
    expect((await inFallback.peek('k')).remaining).toBe(70)
    expect((await inMain.peek('k')).remaining).toBe(90)
    await limiter.settle(before, 2)
    expect((await inMain.peek('k')).remaining).toBe(98)
    expect((await inFallback.peek('k')).remaining).toBe(70)
  })

  it('settles with the policies and layers the decision was made with', async () => {
    const { limiter } = setup()
    const perCall = [fixedWindow({ name: 'exports', limit: 20, window: '1h' })]
    const layers = [{ name: 'team', key: 'team:acme', policies: [fixedWindow({ name: 'team-hourly', limit: 50, window: '1h' })] }]
    const d = await limiter.consume('k', { cost: 5, policies: perCall, layers })
    await limiter.settle(d, 12)
    const view = await limiter.peek('k', { policies: perCall, layers })
    expect(view.policies.map((p) => p.remaining)).toEqual([8, 38])
    // The limiter's own policy was never charged.
    expect((await limiter.peek('k')).remaining).toBe(100)
  })

  it('leaves a concurrency lease alone: only release gives it back', async () => {
    const { limiter } = setup([tokenBucket({ name: 'tokens', limit: 100, window: '1h' }), concurrency({ name: 'one', limit: 1 })])
    const d = await limiter.consume('k', { cost: 10 })
    await limiter.settle(d, 3)
    expect((await limiter.peek('k')).policies.map((p) => p.remaining)).toEqual([97, 0])
    const more = await limiter.consume('k', { cost: 10 })
    expect(more).toMatchObject({ allowed: false, violated: ['one'] })
    await limiter.release(d)
    expect((await limiter.peek('k')).policies.map((p) => p.remaining)).toEqual([97, 1])
  })

  it('a bad actualCost is refused with the option named and the value not quoted', async () => {
    const { limiter, left } = setup()
    const d = await limiter.consume('k', { cost: 10 })
    for (const bad of [-731_000_123, 731_000_123.5, Number.NaN, '731000123', 1_731_000_123, undefined]) {
      const error = await limiter.settle(d, bad as number).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error, String(bad)).toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'actualCost' })
      expect(String((error as Error).message)).toContain('actualCost')
      expect(JSON.stringify({ ...(error as object), message: (error as Error).message })).not.toContain('731000123')
    }
    // Nothing was settled by the refused calls.
    expect((await limiter.settle(d, 4)).remaining).toBe(96)
    expect(await left()).toBe(96)
  })

  it('refuses what is not a decision', async () => {
    const { limiter } = setup()
    await expect(limiter.settle(undefined as unknown as Decision, 1)).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_ARGUMENT',
      option: 'decision',
    })
  })

  it('a closed limiter refuses with ERR_RK_CLOSED', async () => {
    const { limiter } = setup()
    const d = await limiter.consume('k', { cost: 10 })
    await limiter.close()
    await expect(limiter.settle(d, 5)).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' })
  })
})

describe('limiter.settle on a store without charge()', () => {
  /** The memory store minus its `charge`. */
  function withoutCharge(): Store {
    const inner = new MemoryStore()
    return {
      consume: (r) => inner.consume(r),
      peek: (r) => inner.peek(r),
      refund: (r) => inner.refund(r),
      reset: (r) => inner.reset(r),
      close: () => inner.close(),
    }
  }

  it('warns RK_STORE_NO_CHARGE once, and charges the extra with consume when it fits', async () => {
    const c = clock(T0)
    const warnings: string[] = []
    const limiter = createLimiter({
      store: withoutCharge(),
      now: c.now,
      policies: [tokenBucket({ name: 'tokens', limit: 20, window: '1h' })],
      logger: { warn: () => {} },
    })
    limiter.on('warn', (w) => warnings.push(w.code))
    const a = await limiter.consume('k', { cost: 5 })
    expect((await limiter.settle(a, 8)).remaining).toBe(12)
    expect(warnings).toEqual(['RK_STORE_NO_CHARGE'])
    // An extra that does not fit is not charged (the inexactness the warning is about).
    const b = await limiter.consume('k', { cost: 10 })
    const settled = await limiter.settle(b, 30)
    expect(settled.allowed).toBe(false)
    expect((await limiter.peek('k')).remaining).toBe(2)
    expect(warnings).toEqual(['RK_STORE_NO_CHARGE'])
    // Less than the estimate is refunded as on any store.
    const e = await limiter.consume('k', { cost: 2 })
    await limiter.settle(e, 0)
    expect((await limiter.peek('k')).remaining).toBe(2)
  })
})

describe('limiter.settle on a token bucket after time has passed', () => {
  // The difference is given back out of what is left of the whole estimate (StoreRefundRequest.charged):
  // bounding it by "difference units charged at decision.at, minus refill since" gave back less than
  // the unused part once the bucket had refilled a little. 60 reserved from a full bucket at 5
  // tokens/s, 20 used, settled 3 s later: 95 left (it was 80).
  it('gives back the whole unused part when the bucket never reached capacity meanwhile', async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [tokenBucket({ name: 'tokens', limit: 100, window: '20s' })] })
    const d = await limiter.consume('k', { cost: 60 })
    c.advance(3_000)
    expect((await limiter.peek('k')).remaining).toBe(55)
    await limiter.settle(d, 20)
    expect((await limiter.peek('k')).remaining).toBe(95)
  })
})
