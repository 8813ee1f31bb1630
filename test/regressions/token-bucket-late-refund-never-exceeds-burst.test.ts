// A refund gives back only what the bucket has not refilled since the charge. A count mode
// refunds a slow request when it finishes (`at: decision.at`): a client that starts slow requests,
// spends the refilled bucket meanwhile, then lets the slow ones finish must not get more than the
// burst at one instant. Memory (the step function) and Redis (its Lua twin) alike.

import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, type Store, tokenBucket } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const T0 = 1_700_000_000_000

async function attack(store: Store): Promise<boolean[]> {
  let t = T0
  const limiter = createLimiter({ store, now: () => t, policies: [tokenBucket({ name: 'b', limit: 2, window: '1m' })] })
  const slow = await limiter.consume('k')
  // Two minutes later the bucket is full again: the slow request's charge has been refilled.
  t += 120_000
  const seen: boolean[] = []
  for (let i = 0; i < 3; i++) seen.push((await limiter.consume('k')).allowed)
  await limiter.refund('k', { at: slow.at })
  seen.push((await limiter.consume('k')).allowed)
  return seen
}

async function quickRefund(store: Store): Promise<number[]> {
  let t = T0
  const limiter = createLimiter({ store, now: () => t, policies: [tokenBucket({ name: 'b', limit: 2, window: '1m' })] })
  // One charge on a full bucket, refunded 10 s later: exactly as if it had never been made.
  const d = await limiter.consume('k')
  t += 10_000
  const remaining = [(await limiter.refund('k', { at: d.at })).remaining]
  // Two charges at one instant (the second waits behind the first), the second refunded 10 s
  // later: the refund counts the charge as if it had started at `at`, so it gives back 20 s of
  // its 30 s (the strict side: never more than the bucket has not refilled).
  await limiter.consume('k')
  const second = await limiter.consume('k')
  t += 10_000
  remaining.push((await limiter.refund('k', { at: second.at })).remaining)
  t += 20_000
  remaining.push((await limiter.peek('k')).remaining)
  t += 10_000
  remaining.push((await limiter.peek('k')).remaining)
  return remaining
}

describe('a late token-bucket refund (memory)', () => {
  it('gives back nothing of a charge the bucket has refilled since: at most the burst at one instant', async () => {
    expect(await attack(new MemoryStore())).toEqual([true, true, false, false])
  })
  it('a refund soon after the charge gives back what is not refilled yet', async () => {
    expect(await quickRefund(new MemoryStore())).toEqual([2, 1, 1, 2])
  })
  it('the fixed window already refunded only into the window charged', async () => {
    let t = T0
    const limiter = createLimiter({ now: () => t, policies: [fixedWindow({ name: 'w', limit: 2, window: '1m' })] })
    const slow = await limiter.consume('k')
    t += 120_000
    const seen: boolean[] = []
    for (let i = 0; i < 3; i++) seen.push((await limiter.consume('k')).allowed)
    await limiter.refund('k', { at: slow.at })
    seen.push((await limiter.consume('k')).allowed)
    expect(seen).toEqual([true, true, false, false])
  })
})

describeRedis('a late token-bucket refund (Redis)', () => {
  const client = new Redis(REDIS_URL)
  const prefix = uniquePrefix('late-refund')
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })
  it('gives back nothing of a charge the bucket has refilled since', async () => {
    expect(await attack(new RedisStore({ client, prefix: `${prefix}:a`, clock: 'caller' }))).toEqual([true, true, false, false])
  })
  it('a refund soon after the charge gives back what is not refilled yet, as in memory', async () => {
    expect(await quickRefund(new RedisStore({ client, prefix: `${prefix}:b`, clock: 'caller' }))).toEqual([2, 1, 1, 2])
  })
})
