/**
 * Load shedding under any interleaving of priorities: a request of priority p is admitted exactly
 * when the fleet budget's usage after it stays within floor(share_p × capacity). So a lower
 * priority is never admitted once usage reaches its share, and critical (share 1) is admitted
 * whenever the budget is not full — on the memory store and the compare-and-set store, for a
 * concurrency budget (with releases) and for rate budgets.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isShedding, loadShedding } from '../../src/http/shedding.js'
import {
  type CasBackend,
  casStore,
  concurrency,
  createLimiter,
  type Decision,
  fixedWindow,
  MemoryStore,
  type Policy,
  type Store,
  slidingWindow,
  tokenBucket,
} from '../../src/index.js'

const T0 = 1_782_192_000_000
const SHARES = { critical: 1, normal: 0.8, background: 0.5 } as const
type Priority = keyof typeof SHARES
const PRIORITIES: readonly Priority[] = ['critical', 'normal', 'background']

/** A synchronous versioned map: a compare-and-set backend in-process. */
function versionedMap(): CasBackend {
  const data = new Map<string, CasBackend.Versioned>()
  let version = 0
  return {
    get: (keys) => keys.map((k) => data.get(k)),
    commit: (writes) => {
      for (const w of writes) if (data.get(w.key)?.version !== w.expected) return false
      for (const w of writes) {
        if (w.value === undefined) data.delete(w.key)
        else data.set(w.key, { value: w.value, version: ++version })
      }
      return true
    },
    delete: (keys) => {
      for (const k of keys) data.delete(k)
    },
  }
}

const stores: [string, () => Store][] = [
  ['memory', () => new MemoryStore()],
  ['compare-and-set', () => casStore({ backend: versionedMap() })],
]

type Op = { kind: 'request'; priority: Priority; subject: number } | { kind: 'release'; pick: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('request' as const), priority: fc.constantFrom(...PRIORITIES), subject: fc.nat(4) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
)

/** Budgets whose usage is a count the test can keep: nothing refills, since the clock stands still. */
const budgets: [string, (limit: number) => Policy, boolean][] = [
  ['concurrency', (limit) => concurrency({ name: 'fleet', limit, leaseMs: '1h' }), true],
  ['fixed window', (limit) => fixedWindow({ name: 'fleet', limit, window: '1h' }), false],
  ['sliding window', (limit) => slidingWindow({ name: 'fleet', limit, window: '1h' }), false],
  ['token bucket', (limit) => tokenBucket({ name: 'fleet', limit, window: '1h' }), false],
]

describe.each(stores)('load shedding on the %s store', (_name, makeStore) => {
  it.each(budgets)('%s budget: admitted exactly while usage after stays within the priority’s share', async (_kind, make, releases) => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 12 }), fc.array(op, { maxLength: 60 }), async (limit, ops) => {
        const shed = loadShedding({ budget: make(limit), priorities: SHARES })
        const limiter = createLimiter({
          store: makeStore(),
          now: () => T0,
          policies: [tokenBucket({ name: 'own', limit: 1000, window: '1m' })],
        })
        const held: Decision[] = []
        let usage = 0
        for (const o of ops) {
          if (o.kind === 'release') {
            if (!releases || held.length === 0) continue
            const [d] = held.splice(o.pick % held.length, 1)
            await limiter.release(d)
            usage--
            continue
          }
          const d = await limiter.consume(`client-${o.subject}`, { layers: [shed.layer(o.priority)] })
          const share = Math.floor(SHARES[o.priority] * limit)
          expect(d.allowed, `${o.priority} at usage ${usage}/${limit} (its share ${share})`).toBe(usage + 1 <= share)
          if (d.allowed) {
            usage++
            held.push(d)
          } else expect(isShedding(d)).toBe(true)
        }
      }),
      { numRuns: 40 },
    )
  })
})
