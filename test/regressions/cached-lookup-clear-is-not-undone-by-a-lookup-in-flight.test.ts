// cachedLookup's clear(key) ("after its plan changed") and cachedList's clear(subject) ("right
// after you unlisted it") were undone by a lookup already in flight: its answer, read before the
// change, was cached for a whole TTL when it settled, and requests arriving in the meantime shared
// that same stale call. A key upgraded to a paid plan kept the free limits, an unbanned address
// stayed banned, for up to `ttl` after clear().
import { expect, it } from 'vitest'
import { cachedList, cachedLookup } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'

const req = { method: 'GET', route: '/', path: '/', ip: '192.0.2.1', headers: { get: () => undefined }, raw: {} }

/** A lookup answering `current()` as read when called, settling only when `settle()` is called. */
function slowSource<T>(current: () => T) {
  const pending: (() => void)[] = []
  const lookup = () =>
    new Promise<T>((resolve) => {
      const answer = current()
      pending.push(() => resolve(answer))
    })
  const settle = () => {
    for (const done of pending.splice(0)) done()
  }
  return { lookup, settle, calls: () => pending.length }
}

it('a plan changed and cleared while its old answer is in flight is read afresh', async () => {
  const c = clock(0)
  let plan = 'free'
  const source = slowSource(() => plan)
  const tierOf = cachedLookup(source.lookup, { ttl: '1h', now: c.now })
  const before = tierOf('k', req)
  plan = 'pro'
  tierOf.clear('k')
  const after = tierOf('k', req)
  source.settle()
  expect(await before).toBe('free')
  expect(await after).toBe('pro')
  // And the old answer was not cached over the new one.
  const later = tierOf('k', req)
  source.settle()
  expect(await later).toBe('pro')
})

it('clear() of everything does the same', async () => {
  const c = clock(0)
  let plan = 'free'
  const source = slowSource(() => plan)
  const tierOf = cachedLookup(source.lookup, { ttl: '1h', now: c.now })
  const before = tierOf('k', req)
  plan = 'pro'
  tierOf.clear()
  source.settle()
  expect(await before).toBe('free')
  const after = tierOf('k', req)
  source.settle()
  expect(await after).toBe('pro')
})

it('an address unlisted and cleared while its ban is being read is not banned for a TTL', async () => {
  const c = clock(0)
  let banned = true
  const source = slowSource(() => banned)
  const deny = cachedList(source.lookup, { ttl: '1h', now: c.now })
  const first = deny('192.0.2.1', 'ip', req)
  banned = false
  deny.clear('192.0.2.1')
  source.settle()
  expect(await first).toBe(true)
  const next = deny('192.0.2.1', 'ip', req)
  source.settle()
  expect(await next).toBe(false)
})
