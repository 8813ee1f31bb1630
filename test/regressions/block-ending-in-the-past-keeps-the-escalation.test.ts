// limiter.block(key, { until }) with an `until` already past (by the store's clock) forgave the
// whole record, as unblock does: the subject's next block was the first again. The docs promise
// that a block leaves the escalation level unchanged ("support can also shorten one"), and a
// Redis clock ahead of the app's, or a fraud signal's stale time, makes such an `until` ordinary.
// A block ending in the past ends the current block; only unblock forgets the record.
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, type Limiter, type Store } from '../../src/index.js'
import { penaltyBox } from '../../src/limiter/algorithms/penalty-box.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { clock } from '../helpers/clock.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { STORES } from '../limiter/concurrency-stores.js'

const T0 = Date.UTC(2030, 4, 17, 12, 0, 0)
const MIN = 60_000

function suite(newStore: (now: () => number) => Store): void {
  let n = 0
  const setup = () => {
    const c = clock(T0)
    const limiter: Limiter = createLimiter({
      store: newStore(c.now),
      now: c.now,
      onStoreError: 'deny',
      policies: [
        fixedWindow({ name: 'rate', limit: 1, window: '1s' }),
        penaltyBox({ name: 'box', after: 2, within: '1m', blocks: ['1m', '10m', '1h'], forgiveAfter: '1d' }),
      ],
    })
    return { c, limiter, key: `past-${n++}-${Math.random().toString(36).slice(2, 8)}` }
  }
  /** Admitted once, then denied twice: the box's next block. Returns its length. */
  const earnBlock = async (limiter: Limiter, key: string, c: { advance(ms: number): void }) => {
    let retry = 0
    for (let i = 0; i < 3; i++) {
      retry = (await limiter.consume(key)).retryAfterMs
      c.advance(1)
    }
    return retry
  }

  it('a block whose end is already past ends the current block and keeps the level', async () => {
    const { c, limiter, key } = setup()
    expect(await earnBlock(limiter, key, c)).toBe(MIN)
    // Support lifts the block by ending it now (or a second ago), as the docs allow.
    await limiter.block(key, { until: c.now() - 1000 })
    c.advance(1000)
    expect((await limiter.consume(key)).allowed).toBe(true)
    // The next offence is a repeat offence: the second length, not the first again.
    c.advance(1000)
    expect(await earnBlock(limiter, key, c)).toBe(10 * MIN)
  })

  it('a block ending exactly now keeps the level too; unblock still forgets it', async () => {
    const { c, limiter, key } = setup()
    expect(await earnBlock(limiter, key, c)).toBe(MIN)
    await limiter.block(key, { until: c.now() })
    c.advance(1000)
    expect(await earnBlock(limiter, key, c)).toBe(10 * MIN)
    await limiter.unblock(key)
    c.advance(1000)
    expect(await earnBlock(limiter, key, c)).toBe(MIN)
  })

  it('a block of epoch 1 ms (the smallest until) is a block in the past, not an unblock', async () => {
    const { c, limiter, key } = setup()
    expect(await earnBlock(limiter, key, c)).toBe(MIN)
    await limiter.block(key, { until: 1 })
    c.advance(1000)
    expect(await earnBlock(limiter, key, c)).toBe(10 * MIN)
  })
}

for (const [name, make] of STORES) describe(`on ${name}`, () => suite(make))

describeRedis('on RedisStore', () => {
  const prefix = uniquePrefix('blockpast')
  const client = new Redis(REDIS_URL)
  const stores: RedisStore[] = []
  afterAll(async () => {
    for (const s of stores) s.close()
    await deleteUnder(client, prefix)
    client.disconnect()
  })
  suite(() => {
    const store = new RedisStore({ client, prefix, clock: 'caller', timeoutMs: 5000 })
    stores.push(store)
    return store
  })
})
