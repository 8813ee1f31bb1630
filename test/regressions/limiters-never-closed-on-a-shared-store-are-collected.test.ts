// A limiter made per request (a usual mistake) on a store shared by all of them, and never closed:
// the store's event hub held every limiter's listener, so none was ever collected while the store
// lived (20,000 of them held 13.6 KB each: 270 MB). The hub now holds its limiters weakly;
// `close()` still detaches at once.

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore } from '../../src/index.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

it('collects limiters that were never closed, on a store they share', async () => {
  const store = new MemoryStore()
  const policies = [fixedWindow({ limit: 1_000_000, window: '1h' })]
  const refs: WeakRef<object>[] = []
  for (let i = 0; i < 500; i++) {
    const limiter = createLimiter({ store, policies })
    await limiter.consume('k')
    refs.push(new WeakRef(limiter))
  }
  // WeakRefs hold their targets until the current job ends.
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  const alive = refs.filter((r) => r.deref() !== undefined).length
  expect(alive).toBeLessThan(10)
  // The store still counts for the limiters made afterwards.
  expect((await createLimiter({ store, policies }).peek('k')).remaining).toBe(1_000_000 - 500)
})
