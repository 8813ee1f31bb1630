// The Lua script is pinned by its SHA1: changing it (and so every deployed EVALSHA name) must be
// a deliberate edit of this file, made together with the conformance suite passing.

import { createHash } from 'node:crypto'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { DECIDE_SCRIPT, DECIDE_SHA } from '../../../src/stores/redis/script.js'
import { describeRedis, REDIS_URL } from '../../helpers/redis.js'

const PINNED = {
  decide: 'bbcf19c9a10e2bcecfd1747f8572c63ff8a51e33',
}

describe('Lua scripts', () => {
  it('are the pinned versions', () => {
    expect(createHash('sha1').update(DECIDE_SCRIPT).digest('hex')).toBe(DECIDE_SHA)
    expect({ decide: DECIDE_SHA }).toEqual(PINNED)
  })
})

describeRedis('Lua scripts on Redis', () => {
  it('load under the SHA1 the store sends (EVALSHA)', async () => {
    const client = new Redis(REDIS_URL)
    try {
      expect(await client.script('LOAD', DECIDE_SCRIPT)).toBe(DECIDE_SHA)
    } finally {
      client.disconnect()
    }
  })
})
