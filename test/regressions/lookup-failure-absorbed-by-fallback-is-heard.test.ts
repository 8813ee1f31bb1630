// cachedLookup and cachedList with a `fallback` and no `onError` absorbed every failure in
// silence: a plan database that went down moved every paying key to the fallback tier, and a deny
// list whose Redis went away let every banned client in (fallback: false), with nothing in any
// log. The first failure of each outage is now a process warning (RK_LOOKUP_FAILED) when nobody
// passed onError; a lookup that answers again ends the outage.
import { afterEach, beforeEach, expect, it, type MockInstance, vi } from 'vitest'
import { cachedList, cachedLookup } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'

const req = { method: 'GET', route: '/', path: '/', ip: '192.0.2.1', headers: { get: () => undefined }, raw: {} }

let emitted: MockInstance
beforeEach(() => {
  emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
})
afterEach(() => {
  emitted.mockRestore()
})
const lookupWarnings = () =>
  emitted.mock.calls.filter(([, options]) => (options as { code?: string } | undefined)?.code === 'RK_LOOKUP_FAILED')

it('a plan lookup failing behind its fallback is said once per outage', () => {
  const c = clock(0)
  let down = true
  const tierOf = cachedLookup(
    (key) => {
      if (down) throw new Error('connect ECONNREFUSED postgres://admin:hunter2@db')
      return `pro-${key}`
    },
    { fallback: 'free', ttl: '1s', now: c.now },
  )
  for (let i = 0; i < 10; i++) expect(tierOf(`k${i}`, req)).toBe('free')
  expect(lookupWarnings()).toHaveLength(1)
  expect(String(lookupWarnings()[0][0])).not.toContain('hunter2')
  down = false
  expect(tierOf('k1', req)).toBe('pro-k1')
  down = true
  expect(tierOf('k2', req)).toBe('free')
  expect(lookupWarnings()).toHaveLength(2)
})

it('with onError, onError hears it and nothing is printed', () => {
  const heard: unknown[] = []
  const tierOf = cachedLookup(
    () => {
      throw new Error('down')
    },
    { fallback: 'free', onError: (e) => heard.push(e) },
  )
  tierOf('k', req)
  expect(heard).toHaveLength(1)
  expect(lookupWarnings()).toHaveLength(0)
})

it('a deny list failing open is said', async () => {
  const banned = cachedList(async () => Promise.reject(new Error('redis gone')), { fallback: false })
  expect(await banned('192.0.2.1', 'ip', req)).toBe(false)
  expect(await banned('192.0.2.2', 'ip', req)).toBe(false)
  expect(lookupWarnings()).toHaveLength(1)
})
