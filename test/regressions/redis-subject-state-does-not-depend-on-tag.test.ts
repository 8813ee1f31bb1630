// On one Redis, a subject's state must not depend on the request's placement tag: the same API
// key decided with its team layer (tag = the team), without it (tag = itself) and with an
// explicit tag is one bucket, as on the MemoryStore, and `reset(key)` clears it whatever tag
// charged it. (Before, each tag had its own keys: 9 of 12 admitted against a limit of 3, and a
// reset without the layers missed the state.) On Cluster the tag decides the slot, so there it
// stays part of the state's identity, as docs/redis.md says.

import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, type Store } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const team = [{ name: 'team', key: 'team:acme', policies: [fixedWindow({ name: 'team', limit: 1000, window: '1h' })] }]

async function mixTags(store: Store): Promise<{ admitted: number; afterReset: boolean }> {
  const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'per-key', limit: 3, window: '1h' })] })
  const out: boolean[] = []
  for (let i = 0; i < 4; i++) out.push((await limiter.consume('key:sk_1', { layers: team })).allowed)
  for (let i = 0; i < 4; i++) out.push((await limiter.consume('key:sk_1')).allowed)
  for (let i = 0; i < 4; i++) out.push((await limiter.consume('key:sk_1', { tag: 'x' })).allowed)
  await limiter.reset('key:sk_1')
  const afterReset = (await limiter.consume('key:sk_1', { layers: team })).allowed
  return { admitted: out.filter(Boolean).length, afterReset }
}

describe('a subject under several tags (memory, the reference)', () => {
  it('is one bucket, and reset clears it', async () => {
    expect(await mixTags(new MemoryStore())).toEqual({ admitted: 3, afterReset: true })
  })
})

describeRedis('a subject under several tags (one Redis)', () => {
  const client = new Redis(REDIS_URL)
  const prefix = uniquePrefix('tag-split')
  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })
  it('is one bucket, and reset clears it', async () => {
    expect(await mixTags(new RedisStore({ client, prefix }))).toEqual({ admitted: 3, afterReset: true })
  })
})
