// Two keys that differ only in a lone surrogate ('\uD800' and '\uDBFF', say: text cut in the
// middle of an emoji, or forged on purpose) are different identities, but anything that stores or
// hashes text as UTF-8 turns every lone surrogate into the same U+FFFD: a key longer than 256
// characters (hashed by the limiter for every store) and any key on Redis shared one limit, so a
// client could spend another's. Keys that are not well-formed UTF-16 are now encoded, one to one,
// in a form no well-formed key takes.

import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore } from '../../src/index.js'
import { encodeSubject } from '../../src/limiter/subject.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const policies = [fixedWindow({ name: 'fw', limit: 1, window: '1h' })]

/** Pairs of keys that UTF-8 makes one. */
const PAIRS: readonly [string, string][] = [
  ['\uD800', '\uDBFF'],
  ['user-\uDC00', 'user-\uFFFD'],
  [`${'x'.repeat(300)}\uD800`, `${'x'.repeat(300)}\uDBFF`],
  [`${'x'.repeat(300)}\uD800`, `${'x'.repeat(300)}\uFFFD`],
]

describe('keys that differ only in a lone surrogate', () => {
  it('encode to different subjects, and a well-formed key keeps its own', () => {
    for (const [a, b] of PAIRS) expect(encodeSubject('t', a)).not.toBe(encodeSubject('t', b))
    expect(encodeSubject('t', 'user-\uFFFD')).toBe('user-\uFFFD')
    expect(encodeSubject('t', 'plain')).toBe('plain')
    // Every encoded subject is well-formed (a store may write it as UTF-8).
    for (const [a, b] of PAIRS)
      for (const k of [a, b]) expect((encodeSubject('t', k) as unknown as { isWellFormed(): boolean }).isWellFormed()).toBe(true)
  })

  it('never share a limit on the memory store', async () => {
    const limiter = createLimiter({ store: new MemoryStore(), policies })
    for (const [a, b] of PAIRS) {
      expect((await limiter.consume(a)).allowed).toBe(true)
      expect((await limiter.consume(b)).allowed).toBe(true)
      await limiter.reset(a)
      await limiter.reset(b)
    }
  })
})

describeRedis('keys that differ only in a lone surrogate, on Redis', () => {
  const client = new Redis(REDIS_URL)
  const prefix = uniquePrefix('surrogate')
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('never share a limit', async () => {
    const limiter = createLimiter({ store: new RedisStore({ client, prefix }), policies })
    for (const [a, b] of PAIRS) {
      expect((await limiter.consume(a)).allowed).toBe(true)
      expect((await limiter.consume(b)).allowed, JSON.stringify([a.slice(-3), b.slice(-3)])).toBe(true)
      await limiter.reset(a)
      await limiter.reset(b)
    }
  })
})
