// PostgreSQL text holds no NUL byte, and a JavaScript string with a lone surrogate reaches it as
// U+FFFD. A key with a NUL (a username from a JSON body, a decoded URL path: `victim%00`) failed
// the whole database call: under onStoreError 'allow' such a key was never limited, and every
// request that went in the same call (other keys, other clients) was admitted uncounted too. Two
// keys differing only in a lone surrogate ('\uD800', '\uDBFF') shared one bucket.

import { afterAll, beforeAll, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import type { PostgresStore } from '../../src/stores/postgres/index.js'
import { describePostgres, postgresFixture } from '../helpers/postgres.js'

describePostgres('a key with a NUL byte or a lone surrogate', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>
  let store: PostgresStore

  beforeAll(async () => {
    fixture = await postgresFixture('nul', undefined, 4)
    store = await fixture.store()
  })

  afterAll(async () => {
    store.close()
    await fixture.drop()
  })

  it('is limited like any other, and never fails the requests decided with it', async () => {
    const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'login', limit: 2, window: '1h' })], onStoreError: 'allow' })
    const alone = []
    for (let i = 0; i < 3; i++) alone.push(await limiter.consume('victim\u0000'))
    expect(alone.map((d) => [d.allowed, d.reason])).toEqual([
      [true, 'ok'],
      [true, 'ok'],
      [false, 'limited'],
    ])
    // Made in the same tick: decided in one database call.
    const together = await Promise.all([
      limiter.consume('alice'),
      limiter.consume('alice'),
      limiter.consume('alice'),
      limiter.consume('x\u0000y'),
    ])
    expect(together.map((d) => [d.allowed, d.reason])).toEqual([
      [true, 'ok'],
      [true, 'ok'],
      [false, 'limited'],
      [true, 'ok'],
    ])
    // Different keys, different buckets; the same key, the same bucket.
    expect((await limiter.peek('x\u0000z')).remaining).toBe(2)
    expect((await limiter.peek('x\u0000y')).remaining).toBe(1)
  })

  it('keeps keys differing only in a lone surrogate apart', async () => {
    const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'surrogate', limit: 2, window: '1h' })] })
    await limiter.consume('\uD800')
    await limiter.consume('\uD800')
    expect((await limiter.peek('\uD800')).remaining).toBe(0)
    expect((await limiter.peek('\uDBFF')).remaining).toBe(2)
    expect((await limiter.peek('\uFFFD')).remaining).toBe(2)
    // A well-formed pair is an ordinary key.
    await limiter.consume('\uD83D\uDE00')
    expect((await limiter.peek('\uD83D\uDE00')).remaining).toBe(1)
  })
})
