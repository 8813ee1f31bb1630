// cachedLookup on an injected clock that read 0 when an answer was cached kept that answer
// forever: lru-cache reads a start time of 0 as "no start", never stale. A test clock starting at
// 0 (the natural choice) thus never saw the TTL end, and neither did a list built on it.
import { expect, it } from 'vitest'
import { cachedList, cachedLookup } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'

const req = { method: 'GET', route: '/', path: '/', ip: '192.0.2.1', headers: { get: () => undefined }, raw: {} }

it('an answer cached at time 0 expires after its TTL', () => {
  const c = clock(0)
  let calls = 0
  const tierOf = cachedLookup(
    () => {
      calls++
      return 'free'
    },
    { ttl: '1s', now: c.now },
  )
  tierOf('k', req)
  c.advance(999)
  tierOf('k', req)
  expect(calls).toBe(1)
  c.advance(2)
  tierOf('k', req)
  expect(calls).toBe(2)
})

it('so does a list answer', () => {
  const c = clock(0)
  let listed = true
  const banned = cachedList(() => listed, { ttl: '1s', now: c.now })
  expect(banned('192.0.2.1', 'ip', req)).toBe(true)
  listed = false
  c.advance(1_001)
  expect(banned('192.0.2.1', 'ip', req)).toBe(false)
})
