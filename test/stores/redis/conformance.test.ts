// Conformance: the Lua twins answer exactly what the TypeScript policies answer. Random traces
// (fast-check: time steps, costs, several policies over one or two subjects, peeks, refunds,
// resets, charges, concurrency leases taken, renewed, released and expired) are replayed through the reference oracle (policy.step directly), the MemoryStore and
// the RedisStore (clock 'caller', so all three share one clock), op by op.

import fc from 'fast-check'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { concurrency, fixedWindow, MemoryStore, slidingWindow, tokenBucket } from '../../../src/index.js'
import { monthEnd, monthIndex } from '../../../src/limiter/algorithms/fixed-window.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, keysWithoutTtl, REDIS_URL, uniquePrefix } from '../../helpers/redis.js'
import { STORE_CLIENTS, type StoreClient } from './clients.js'
import { ReferenceStore } from './reference.js'
import { concurrencyTraceArb, penaltyBoxTraceArb, replayTrace, traceArb } from './traces.js'

const DAY = 86_400_000

/**
 * Every client library runs every trace; the full number of traces for ioredis 5, node-redis 6 and
 * iovalkey, a quarter of it for the other majors (the script is the same: the client is only the
 * way to it).
 */
const FULL = new Set(['ioredis 5', 'node-redis 6', 'iovalkey'])

describeRedis('RedisStore conformance (single node)', () => {
  describe.each(STORE_CLIENTS)('$name', (library) => {
    const runs = (n: number) => (FULL.has(library.name) ? n : Math.ceil(n / 4))
    const prefix = uniquePrefix('conf')
    /** Reads keys for the checks, whatever client the store uses. */
    let client: Redis
    let handle: StoreClient
    let store: RedisStore
    let run = 0

    beforeAll(async () => {
      client = new Redis(REDIS_URL)
      await client.ping()
      handle = library.single(REDIS_URL)
      await handle.ready
      // Caller clock: traces jump days in microseconds; extraTtlMs keeps keys alive in real time.
      store = new RedisStore({ client: handle.client, prefix, clock: 'caller', extraTtlMs: DAY, timeoutMs: 5000 })
    })

    afterAll(async () => {
      const { checked, without } = await keysWithoutTtl(client, prefix)
      expect(without, `keys without a TTL (of ${checked})`).toEqual([])
      await deleteUnder(client, prefix)
      store.close()
      handle.close()
      client.disconnect()
    })

    it('gives the reference answer for random traces (every policy kind, mixes, peeks, refunds, resets, charges, leases)', async () => {
      let compared = 0
      await fc.assert(
        fc.asyncProperty(traceArb(40), async (trace) => {
          compared += await replayTrace(trace, { reference: new ReferenceStore(), redis: store }, `r${run++}`)
        }),
        { numRuns: runs(250) },
      )
      expect(compared).toBeGreaterThan(runs(1000))
    })

    it('gives the MemoryStore answer for the same traces', async () => {
      await fc.assert(
        fc.asyncProperty(traceArb(30), async (trace) => {
          await replayTrace(trace, { memory: new MemoryStore({ maxKeys: 10_000 }), redis: store }, `m${run++}`)
        }),
        { numRuns: runs(120) },
      )
    })

    it('gives the reference and MemoryStore answers for concurrency traces (acquire, renew, release twice, unknown leases, expiry)', async () => {
      let compared = 0
      await fc.assert(
        fc.asyncProperty(concurrencyTraceArb(40), async (trace) => {
          compared += await replayTrace(
            trace,
            { reference: new ReferenceStore(), memory: new MemoryStore({ maxKeys: 10_000 }), redis: store },
            `cc${run++}`,
          )
        }),
        { numRuns: runs(300) },
      )
      // Not vacuous: traces average about 10 compared answers; half of that is a bound no run misses by chance.
      expect(compared).toBeGreaterThan(runs(1500))
    })

    it('gives the reference and MemoryStore answers for penalty-box traces (offences, blocks, escalation, forgiveness, shadow boxes)', async () => {
      let compared = 0
      await fc.assert(
        fc.asyncProperty(penaltyBoxTraceArb(40), async (trace) => {
          compared += await replayTrace(
            trace,
            { reference: new ReferenceStore(), memory: new MemoryStore({ maxKeys: 10_000 }), redis: store },
            `pb${run++}`,
          )
        }),
        { numRuns: runs(300) },
      )
      // Not vacuous: traces average about 10 compared answers; half of that is a bound no run misses by chance.
      expect(compared).toBeGreaterThan(runs(1500))
    })

    it('keeps a lease near 2^53 exact: released by that number only, not by its neighbours', async () => {
      // Lua's tostring keeps 14 digits: a lease read as a number there would match its neighbours.
      const policies = [concurrency({ name: 'cc', limit: 1, leaseMs: '1m' })]
      const reference = new ReferenceStore()
      const now = 1_800_000_000_000
      const base = { keys: ['big'], policies, cost: 1, now, tag: `big-${prefix}` }
      const lease = Number.MAX_SAFE_INTEGER - 1
      const consume = async (l: number) => {
        const got = await store.consume({ ...base, lease: l })
        expect(got).toEqual(reference.consume({ ...base, lease: l }))
        return got.allowed
      }
      const release = async (l: number) => {
        const got = await store.refund({ ...base, lease: l, chargedAt: now })
        expect(got).toEqual(reference.refund({ ...base, lease: l, chargedAt: now }))
        return got.results[0]
      }
      expect(await consume(lease)).toBe(true)
      expect(await release(lease - 1)).toBe(0)
      expect(await release(lease + 1)).toBe(0)
      expect(await consume(lease - 1)).toBe(false)
      expect(await consume(lease)).toBe(true) // the same lease again: renewed
      expect(await release(lease)).toBe(1)
      expect(await consume(lease - 1)).toBe(true)
    })

    it('keeps exact integers at the far end of time (TAT ticks near 2^53)', async () => {
      // 1024 ticks per ms at year 2199: TAT ≈ 7.4e15 ticks, beyond the 14 digits of Lua's tostring.
      const policies = [
        tokenBucket({ name: 'fine', limit: 3_000_000, window: 1000, burst: 5_000_000 }),
        tokenBucket({ name: 'coarse', limit: 7, window: '1d', burst: 9 }),
        slidingWindow({ name: 'sw', limit: 5, window: 1, precision: 1 }),
        fixedWindow({ name: 'fw', limit: 4, window: 1 }),
      ]
      const reference = new ReferenceStore()
      let now = Date.UTC(2199, 11, 31, 23, 59, 59, 990)
      for (let i = 0; i < 40; i++) {
        now += i % 3
        const request = { keys: policies.map(() => 'far'), policies, cost: 1 + (i % 2), now, tag: `far-${prefix}` }
        expect(await store.consume(request)).toEqual(reference.consume(request))
        expect(await store.peek({ ...request, cost: 3 })).toEqual(reference.peek({ ...request, cost: 3 }))
      }
    })

    it('computes calendar months like Date.UTC, across 1970-2200 and at every boundary', async () => {
      const month = fixedWindow({ name: 'month', limit: 1000, window: 'month' })
      const times: number[] = []
      for (let y = 1970; y <= 2200; y += 7) {
        for (let m = 0; m < 12; m++) {
          const edge = Date.UTC(y, m, 1)
          times.push(Math.max(0, edge - 1), edge, edge + 1)
        }
      }
      for (let i = 0; i < 300; i++) times.push(Math.floor(Math.random() * Date.UTC(2200, 0, 1)))
      for (const now of times) {
        const r = await store.peek({ keys: ['m'], policies: [month], cost: 1, now, tag: `cal-${prefix}-${now}` })
        expect(r.results[1], `monthEnd at ${new Date(now).toISOString()}`).toBe(monthEnd(monthIndex(now)))
      }
    })
  })
})
