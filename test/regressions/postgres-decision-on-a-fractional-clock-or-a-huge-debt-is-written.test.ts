// The decide function takes the decision's time and each row's time to live as bigint. With
// clock 'caller' and a limiter clock in fractional ms (`performance.timeOrigin +
// performance.now()`), every write failed ("invalid input syntax for type bigint"): under
// onStoreError 'allow' nothing was ever limited. A settled debt whose row lives past 2^63 ms (a
// charge of 1e9 on a bucket of 3 a decade) failed the same way, and was lost: the client kept its
// allowance.

import { afterAll, beforeAll, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { describePostgres, postgresFixture } from '../helpers/postgres.js'

describePostgres('bigint arguments of the decide function', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>

  beforeAll(async () => {
    fixture = await postgresFixture('bigint', undefined, 4)
  })

  afterAll(async () => {
    await fixture.drop()
  })

  it('a caller clock in fractional ms decides and counts', async () => {
    const store = await fixture.store({ clock: 'caller' })
    let t = 1_700_000_000_000.375
    const limiter = createLimiter({ store, now: () => t, policies: [tokenBucket({ name: 'frac', limit: 2, window: '1h' })] })
    const decided = []
    for (let i = 0; i < 3; i++) {
      decided.push(await limiter.consume('k'))
      t += 0.25
    }
    expect(decided.map((d) => [d.allowed, d.reason])).toEqual([
      [true, 'ok'],
      [true, 'ok'],
      [false, 'limited'],
    ])
    store.close()
  })

  it('a debt whose row would live past 2^63 ms is kept', async () => {
    const store = await fixture.store()
    const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'decade', limit: 3, window: '3650d' })] })
    const first = await limiter.consume('k')
    expect(first.allowed).toBe(true)
    const settled = await limiter.settle(first, 1_000_000_000)
    expect(settled.reason).not.toBe('store-error')
    const after = await limiter.consume('k')
    expect([after.allowed, after.reason, after.remaining]).toEqual([false, 'limited', 0])
    store.close()
  })
})
