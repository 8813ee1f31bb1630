// Penalty boxes on every store: memory, casStore, Redis and Redis Cluster run one suite. A box
// counts the denials of the request's other policies (in the same store call), blocks for a
// length that grows with each repeat offence up to a cap, forgets after a quiet period, and is
// written by limiter.block / limiter.unblock.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { limitedBody } from '../../src/http/bodies.js'
import { createLimiter, type Decision, fixedWindow, type Limiter, MemoryStore, type Policy, type Store } from '../../src/index.js'
import { penaltyBox } from '../../src/limiter/algorithms/penalty-box.js'
import { shareOf } from '../../src/limiter/algorithms/shed-view.js'
import { clock } from '../helpers/clock.js'
import { describeRedisStores } from '../helpers/redis-store-suite.js'
import { STORES } from '../limiter/concurrency-stores.js'

const T0 = Date.UTC(2030, 4, 17, 12, 0, 0)
const MIN = 60_000
const box = () => penaltyBox({ name: 'box', after: 3, within: '1m', blocks: ['1m', '10m', '1h'], forgiveAfter: '1d' })
const rate = () => fixedWindow({ name: 'rate', limit: 1, window: '1s' })

/** The suite, on a store made by `newStore` with the test's clock. */
function boxSuite(newStore: (now: () => number) => Store, runs: number): void {
  let n = 0
  const setup = (policies: readonly Policy[] = [rate(), box()]) => {
    const c = clock(T0)
    const store = newStore(c.now)
    const limiter: Limiter = createLimiter({ store, policies, now: c.now, onStoreError: 'deny' })
    return { c, limiter, key: `k${n++}-${Math.random().toString(36).slice(2, 8)}` }
  }
  /** Admitted once, then denied by the rate `times` times (1 ms apart): offences. */
  const offend = async (limiter: Limiter, key: string, c: { advance(ms: number): void }, times: number) => {
    let last: Decision | undefined
    for (let i = 0; i < times; i++) {
      last = await limiter.consume(key)
      c.advance(1)
    }
    return last as Decision
  }

  it('boxes a subject denied `after` times within `within`, with Retry-After at the block end', async () => {
    const { c, limiter, key } = setup()
    expect((await limiter.consume(key)).allowed).toBe(true)
    const first = await limiter.consume(key)
    expect(first).toMatchObject({ allowed: false, violated: ['rate'] })
    // The admitting box is never the headline.
    expect(first.limit).toBe(1)
    c.advance(1)
    await limiter.consume(key)
    c.advance(1)
    const third = await limiter.consume(key)
    // The third offence starts the block, reported by the very request that caused it.
    expect(third.allowed).toBe(false)
    expect(third.violated).toEqual(['rate', 'box'])
    expect(third.retryAfterMs).toBe(MIN)
    expect(third.policies.find((p) => p.name === 'box')?.resetAt).toBe(T0 + 2 + MIN)
    expect(third.blockedUntil).toBe(T0 + 2 + MIN)
    expect(first.blockedUntil).toBeUndefined()
    // In the box: denied even once the rate admits again, until the block ends to the ms.
    c.advance(5000)
    const boxed = await limiter.consume(key)
    expect(boxed).toMatchObject({ allowed: false, violated: ['box'], retryAfterMs: MIN - 5000 })
    c.set(T0 + 2 + MIN - 1)
    expect((await limiter.consume(key)).allowed).toBe(false)
    c.advance(1)
    expect((await limiter.consume(key)).allowed).toBe(true)
  })

  it('denials inside the box are no offence: blocks never extend themselves', async () => {
    const { c, limiter, key } = setup()
    await offend(limiter, key, c, 4)
    for (let i = 0; i < 50; i++) {
      const d = await limiter.consume(key)
      expect(d.violated).toContain('box')
      expect(d.retryAfterMs).toBe(T0 + 3 + MIN - c.now())
      c.advance(1000)
    }
    c.set(T0 + 3 + MIN)
    expect((await limiter.consume(key)).allowed).toBe(true)
  })

  it('escalates with each repeat offence (1m, 10m, 1h), capped at the last', async () => {
    const { c, limiter, key } = setup()
    const lengths: number[] = []
    for (let round = 0; round < 4; round++) {
      const d = await offend(limiter, key, c, 4)
      expect(d.violated).toContain('box')
      lengths.push(d.retryAfterMs)
      c.advance(d.retryAfterMs + 1000)
    }
    expect(lengths).toEqual([MIN, 10 * MIN, 60 * MIN, 60 * MIN])
  })

  it('forgives after a quiet period: the next block is the first again', async () => {
    const { c, limiter, key } = setup()
    const first = await offend(limiter, key, c, 4)
    expect(first.retryAfterMs).toBe(MIN)
    // Offences within a day of quiet after the block's end (which is T0 + 3 + MIN): still remembered.
    const x = T0 + MIN + 86_400_000 - 1000
    c.set(x)
    expect((await offend(limiter, key, c, 4)).retryAfterMs).toBe(10 * MIN)
    // A day and a second after that block's end: forgiven.
    c.set(x + 10 * MIN + 86_400_000 + 1000)
    expect((await offend(limiter, key, c, 4)).retryAfterMs).toBe(MIN)
  })

  it('offences older than `within` do not count', async () => {
    const { c, limiter, key } = setup()
    await offend(limiter, key, c, 3)
    c.advance(MIN)
    const d = await offend(limiter, key, c, 2)
    expect(d.violated).toEqual(['rate'])
  })

  it('limiter.block boxes until the given time, limiter.unblock lets through and forgets', async () => {
    const { c, limiter, key } = setup()
    await limiter.block(key, { until: T0 + 5 * MIN })
    const d = await limiter.consume(key)
    expect(d).toMatchObject({ allowed: false, violated: ['box'], retryAfterMs: 5 * MIN })
    expect((await limiter.peek(key)).allowed).toBe(false)
    await limiter.unblock(key)
    expect((await limiter.consume(key)).allowed).toBe(true)
    // A Date works too; a time already past unblocks nothing and blocks nothing.
    await limiter.block(key, { until: new Date(T0 + 2 * MIN) })
    c.advance(2 * MIN)
    expect((await limiter.consume(key)).allowed).toBe(true)
  })

  it('limiter.block with a reason: stored with the block, shown while it lasts, gone with it', async () => {
    const { c, limiter, key } = setup()
    await limiter.block(key, { until: T0 + 5 * MIN, reason: 'fraud score 0.97' })
    const d = await limiter.consume(key)
    expect(d).toMatchObject({ allowed: false, violated: ['box'], blockReason: 'fraud score 0.97' })
    expect(JSON.parse(limitedBody(d).body)['block-reason']).toBe('fraud score 0.97')
    expect((await limiter.peek(key)).blockReason).toBe('fraud score 0.97')
    // Another block by hand replaces it, reason and all.
    await limiter.block(key, { until: T0 + 6 * MIN })
    const plain = await limiter.consume(key)
    expect(plain.allowed).toBe(false)
    expect(plain.blockReason).toBeUndefined()
    expect(JSON.parse(limitedBody(plain).body)).not.toHaveProperty('block-reason')
    await limiter.block(key, { until: T0 + 6 * MIN, reason: 'support: ticket 4512' })
    expect((await limiter.consume(key)).blockReason).toBe('support: ticket 4512')
    // Over at its end; the next block, earned by offences, has no reason.
    c.set(T0 + 6 * MIN)
    const after = await offend(limiter, key, c, 4)
    expect(after.violated).toEqual(['rate', 'box'])
    expect(after.blockReason).toBeUndefined()
    c.advance(1000)
    expect((await limiter.consume(key)).blockReason).toBeUndefined()
    // unblock forgets it.
    await limiter.block(key, { until: c.now() + MIN, reason: 'manual' })
    await limiter.unblock(key)
    await limiter.block(key, { until: c.now() + MIN })
    expect((await limiter.consume(key)).blockReason).toBeUndefined()
  })

  it('boxes a team through its layer: every member is denied', async () => {
    const teamBox = penaltyBox({ name: 'team-box', after: 2, within: '1m', blocks: ['5m'], forgiveAfter: '1h' })
    const teamRate = fixedWindow({ name: 'team-rate', limit: 1, window: '1s' })
    const { c, limiter, key } = setup([fixedWindow({ name: 'user', limit: 100, window: '1s' })])
    const team = { name: 'team', key: `team-${key}`, policies: [teamRate, teamBox] }
    expect((await limiter.consume(`${key}-a`, { layers: [team] })).allowed).toBe(true)
    await limiter.consume(`${key}-b`, { layers: [team] })
    const boxed = await limiter.consume(`${key}-a`, { layers: [team] })
    expect(boxed.violated).toEqual(['team-rate', 'team-box'])
    expect(boxed.policies.find((p) => p.name === 'team-box')?.layer).toBe('team')
    c.advance(2000)
    expect(await limiter.consume(`${key}-c`, { layers: [team] })).toMatchObject({ allowed: false, violated: ['team-box'] })
    // support staff unbox the team
    await limiter.unblock(team.key, { policies: team.policies })
    expect((await limiter.consume(`${key}-c`, { layers: [team] })).allowed).toBe(true)
  })

  it("per request class: a box in one class's list counts that class's denials only", async () => {
    const { c, limiter, key } = setup([fixedWindow({ name: 'read', limit: 1, window: '1s' })])
    const auth = [
      fixedWindow({ name: 'auth', limit: 1, window: '1s' }),
      penaltyBox({ name: 'auth-box', after: 2, within: '1m', blocks: ['1h'], forgiveAfter: '1d' }),
    ]
    // Denials of the read class are no offence for the auth box.
    for (let i = 0; i < 5; i++) await limiter.consume(key)
    c.advance(1000)
    expect((await limiter.consume(key, { policies: auth, class: 'auth' })).allowed).toBe(true)
    await limiter.consume(key, { policies: auth, class: 'auth' })
    const boxed = await limiter.consume(key, { policies: auth, class: 'auth' })
    expect(boxed.violated).toEqual(['auth', 'auth-box'])
    c.advance(1000)
    // The read class goes on; the auth class is boxed for the hour.
    expect((await limiter.consume(key)).allowed).toBe(true)
    expect(await limiter.consume(key, { policies: auth, class: 'auth' })).toMatchObject({ allowed: false, violated: ['auth-box'] })
  })

  it('property: never admitted before the block ends; always admitted after it plus forgiveness, and then forgiven', async () => {
    const forgiveMs = 10 * MIN
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 3 * MIN }), { minLength: 1, maxLength: 40 }), async (gaps) => {
        const { c, limiter, key } = setup([
          rate(),
          penaltyBox({ name: 'box', after: 2, within: '10s', blocks: ['30s', '2m'], forgiveAfter: forgiveMs }),
        ])
        let blockedUntil = 0
        for (const gap of gaps) {
          c.advance(gap)
          const d = await limiter.consume(key)
          if (c.now() < blockedUntil) expect(d.allowed).toBe(false)
          const b = d.policies.find((p) => p.name === 'box')
          if (b?.violated) blockedUntil = Math.max(blockedUntil, c.now() + b.retryAfterMs)
        }
        c.set(Math.max(c.now(), blockedUntil) + forgiveMs)
        expect((await limiter.consume(key)).allowed).toBe(true)
        // Forgiven: two offences give the first block length again.
        await limiter.consume(key)
        const d = await limiter.consume(key)
        expect(d.policies.find((p) => p.name === 'box')?.retryAfterMs).toBe(30_000)
      }),
      { numRuns: runs },
    )
  })
}

describe('penaltyBox() options', () => {
  it('rejects bad options naming them', () => {
    const ok = { after: 3, within: '1m', blocks: ['1m'], forgiveAfter: '1d' } as const
    expect(() => penaltyBox({ ...ok, after: 0 })).toThrow(/after/)
    expect(() => penaltyBox({ ...ok, blocks: [] })).toThrow(/blocks/)
    expect(() => penaltyBox({ ...ok, blocks: ['1m', 'soon' as never] })).toThrow(/blocks\[1\]/)
    expect(() => penaltyBox({ ...ok, forgiveAfter: -1 })).toThrow(/forgiveAfter/)
    expect(() => penaltyBox({ ...ok, within: undefined as never })).toThrow(/within/)
    expect(() => penaltyBox({ ...ok, extra: 1 } as never)).toThrow(/extra/)
  })

  it('is no budget to shed', () => {
    expect(() => shareOf(box(), 0.5, 'providerPlan()', 'shedding.budget')).toThrow(/penalty box/)
  })

  it('block and unblock need a penalty box and a valid until', async () => {
    const limiter = createLimiter({ policies: [rate()] })
    await expect(limiter.block('k', { until: Date.now() + 1000 })).rejects.toMatchObject({
      code: 'ERR_RK_INVALID_OPTION',
      option: 'policies',
    })
    const boxed = createLimiter({ policies: [rate(), box()] })
    await expect(boxed.block('k', { until: 'soon' as never })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'until' })
    const until = Date.now() + 1000
    for (const reason of [42, '', 'x'.repeat(129), 'line\nbreak', 'tab\there', 'é\u0085', '\ud800'])
      await expect(boxed.block('k', { until, reason: reason as never }), JSON.stringify(reason)).rejects.toMatchObject({
        code: 'ERR_RK_INVALID_OPTION',
        option: 'reason',
      })
    await expect(boxed.unblock('k', { reason: 'x' } as never)).rejects.toMatchObject({ code: 'ERR_RK_UNKNOWN_OPTION' })
    // A store answering a reason that is no valid reason (a custom store's bug) answers malformed.
    const lying: Store = {
      consume: (r) => ({
        allowed: false,
        now: r.now,
        results: [0, r.now + 1000, 1000, 0, r.now + 1000, 1000],
        reason: 'a\r\nSet-Cookie: x',
      }),
      peek: (r) => ({ allowed: true, now: r.now, results: [1, r.now, 0, 3, r.now, 0] }),
      refund: (r) => ({ allowed: true, now: r.now, results: [1, r.now, 0, 3, r.now, 0] }),
      reset: () => {},
      close: () => {},
    }
    const d = await createLimiter({ store: lying, policies: [rate(), box()], onStoreError: 'deny' }).consume('k')
    expect(d.reason).toBe('store-error')
    expect((d.error as { code?: string }).code).toBe('ERR_RK_STORE_MALFORMED')
    expect(d.blockReason).toBeUndefined()
  })
})

describe('penalty box on a full MemoryStore', () => {
  it('a flood of new keys never frees a boxed subject before its block ends, by record or by hand', async () => {
    const c = clock(T0)
    const store = new MemoryStore({ maxKeys: 200 })
    const limiter = createLimiter({ store, now: c.now, policies: [rate(), box()] })
    await limiter.consume('boxed')
    for (let i = 0; i < 3; i++) await limiter.consume('boxed')
    await limiter.block('by-hand', { until: T0 + 30 * MIN, reason: 'kept through a flood' })
    // Many new subjects, each admitted once (not limited): they take the room of everything else.
    for (let i = 0; i < 5_000; i++) await limiter.consume(`flood-${i}`)
    expect(store.size).toBeLessThanOrEqual(200)
    c.advance(30_000)
    expect((await limiter.consume('boxed')).violated).toEqual(['box'])
    const byHand = await limiter.consume('by-hand')
    expect(byHand.violated).toEqual(['box'])
    // Held among the limited entries, with its reason.
    expect(byHand.blockReason).toBe('kept through a flood')
  })
})

describe.each(STORES)('penalty box on %s', (_name, newStore) => {
  boxSuite(newStore, 60)
})

// The suite's clock is simulated: keys must outlive a slow machine's real milliseconds (a window
// ending 1 ms after a step has a 1 ms TTL, gone before the next step without the extra TTL).
describeRedisStores('penalty box', 'box', { clock: 'caller', timeoutMs: 5000, extraTtlMs: 600_000 }, (newStore, on) => {
  boxSuite(() => newStore(), on === 'Redis' ? 15 : 10)
  if (on !== 'Redis') return

  it('with the deny cache: every denial still counts, and the block is answered locally until it ends', async () => {
    const c = clock(T0)
    const store = newStore({ denyCache: true })
    const limiter = createLimiter({ store, now: c.now, policies: [rate(), box()] })
    let hits = 0
    limiter.on('store-measure', (m) => {
      if (m.name === 'deny-cache-hit') hits++
    })
    const key = `cache-${Math.random()}`
    await limiter.consume(key)
    await limiter.consume(key)
    await limiter.consume(key)
    const third = await limiter.consume(key)
    expect(third.violated).toEqual(['rate', 'box'])
    expect(hits).toBe(0)
    c.advance(30_000)
    const cached = await limiter.consume(key)
    expect(cached).toMatchObject({ allowed: false, retryAfterMs: MIN - 30_000 })
    expect(cached.violated).toContain('box')
    expect(hits).toBe(1)
    c.advance(MIN - 30_000)
    expect((await limiter.consume(key)).allowed).toBe(true)
    // unblock reaches a cached block too; a cached denial keeps its block's reason
    await limiter.block(key, { until: T0 + 10 * MIN, reason: 'chargeback' })
    expect((await limiter.consume(key)).blockReason).toBe('chargeback')
    const before = hits
    expect((await limiter.consume(key)).blockReason).toBe('chargeback')
    expect(hits).toBe(before + 1)
    await limiter.unblock(key)
    c.advance(1000)
    expect((await limiter.consume(key)).allowed).toBe(true)
  })
})
