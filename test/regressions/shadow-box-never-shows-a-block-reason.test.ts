// A penalty box in shadow never denies, so the reason of a block written into it by hand is never
// a denial's reason: a store must not answer it for a request another policy denied (memory and
// casStore once read it from any box that "denied", shadow or not; the Lua twin never did, and
// the conformance traces caught the difference).
import { casStore, fixedWindow, MemoryStore, type Store } from 'ratekeeper'
import { penaltyBox } from 'ratekeeper/provider'
import { expect, it } from 'vitest'
import type { PenaltyBoxPolicy } from '../../src/limiter/algorithms/penalty-box.js'
import { versionedMap } from '../limiter/concurrency-stores.js'

const T0 = Date.UTC(2026, 0, 1)

it.each([
  ['MemoryStore', () => new MemoryStore()],
  ['casStore', () => casStore({ backend: versionedMap(() => T0) })],
] as const)('%s: a shadow box gives no block reason', async (_name, newStore: () => Store) => {
  const store = newStore()
  const rate = fixedWindow({ name: 'per-minute', limit: 0, window: '1m' })
  const box = penaltyBox({ name: 'trial', after: 5, within: '1m', blocks: ['10m'], forgiveAfter: '1d', shadow: true }) as PenaltyBoxPolicy
  const base = { keys: ['k', 'k'], cost: 1, now: T0, tag: 'k' }
  await store.charge?.({ ...base, keys: ['k'], policies: [box.blocking(T0 + 60_000, 'would block')] })
  const denied = await store.consume({ ...base, policies: [rate, box] })
  expect(denied.allowed).toBe(false)
  expect(denied.reason).toBeUndefined()
})
