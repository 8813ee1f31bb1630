// cachedLookup's onError written as an async function (`onError: async (e) => { await log(e) }`)
// whose promise rejected (the log sink down too) was left unhandled: only a synchronous throw was
// caught, so a lookup failure that the fallback absorbed became an unhandledRejection, which ends
// a Node process by default. A hook that throws or rejects is now reported once per lookup
// (RK_HOOK_THREW, a process warning), and the request still gets its fallback answer.
import { afterEach, beforeEach, expect, it } from 'vitest'
import { cachedList, cachedLookup } from '../../src/provider/index.js'

const req = { method: 'GET', route: '/', path: '/', ip: '192.0.2.1', headers: { get: () => undefined }, raw: {} }
let unhandled: unknown[] = []
let warnings: Error[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
const onWarning = (w: Error) => warnings.push(w)
beforeEach(() => {
  unhandled = []
  warnings = []
  process.on('unhandledRejection', onUnhandled)
  process.on('warning', onWarning)
})
afterEach(() => {
  process.off('unhandledRejection', onUnhandled)
  process.off('warning', onWarning)
})
const settle = () => new Promise((resolve) => setTimeout(resolve, 20))
const hookWarnings = () => warnings.filter((w) => (w as Error & { code?: string }).code === 'RK_HOOK_THREW')

it('a tier lookup: the fallback is answered, the rejection is one warning', async () => {
  const tierOf = cachedLookup(async () => Promise.reject(new Error('db down')), {
    fallback: 'free',
    onError: async () => Promise.reject(new Error('log sink down')),
  })
  expect(await tierOf('k1', req)).toBe('free')
  expect(await tierOf('k2', req)).toBe('free')
  await settle()
  expect(unhandled).toEqual([])
  expect(hookWarnings()).toHaveLength(1)
})

it('a deny list failing open: the same', async () => {
  const banned = cachedList(async () => Promise.reject(new Error('redis gone')), {
    fallback: false,
    onError: async () => Promise.reject(new Error('log sink down')),
  })
  expect(await banned('192.0.2.1', 'ip', req)).toBe(false)
  await settle()
  expect(unhandled).toEqual([])
  expect(hookWarnings()).toHaveLength(1)
})
