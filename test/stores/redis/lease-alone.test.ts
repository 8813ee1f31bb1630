// A lease of one concurrency check goes to the script in its own short layout (one argument: "a"
// acquire or "r" release, its spec index as a character, the lease's digits), and the script
// takes a first lease and gives one back in its request loop, apart from the general path. The conformance traces run on the caller's clock; this property runs the Redis
// clock, in batches that mix those requests with the general layout (a token bucket's consume), and
// holds every answer to the policy's own step and refund at the Redis time the script reports:
// leases taken, renewed, denied, released twice, released unknown, expired. After every batch the
// set holds exactly the live leases the policy holds (expired ones may linger until the next
// write), and the key lives at least until its latest lease ends: a process that dies holding a
// lease loses it at its deadline, not before and not never.

import fc from 'fast-check'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { concurrency, tokenBucket } from '../../../src/index.js'
import type { Policy } from '../../../src/limiter/policy.js'
import type { Call } from '../../../src/stores/redis/batcher.js'
import { decodeReply, encodeBatch } from '../../../src/stores/redis/protocol.js'
import { DECIDE_SCRIPT } from '../../../src/stores/redis/script.js'
import { OP, specOf } from '../../../src/stores/redis/spec.js'
import { deleteUnder, describeRedis, REDIS_URL, redisTimeMs, uniquePrefix } from '../../helpers/redis.js'
import { ReferenceStore } from './reference.js'

const LEASE_MS = 40
/** Leases drawn from a few, so that renewals, double releases and unknown ones come often; one near 2^53. */
const LEASES = [1, 2, 3, Number.MAX_SAFE_INTEGER - 1]

type Request = { kind: 'acquire' | 'release'; lease: number } | { kind: 'rate' } | { kind: 'wrong-type'; release: boolean }

const requestArb: fc.Arbitrary<Request> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('acquire' as const), lease: fc.constantFrom(...LEASES) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), lease: fc.constantFrom(...LEASES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rate' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrong-type' as const), release: fc.boolean() }) },
)

const batchArb = fc.record({
  requests: fc.array(requestArb, { minLength: 1, maxLength: 5 }),
  waitMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: LEASE_MS + 10 })),
})

describeRedis('Redis decide script: a lease alone (acquire and release in their short layout, Redis clock)', () => {
  const prefix = uniquePrefix('lease-alone')
  let client: Redis
  let run = 0

  beforeAll(async () => {
    client = new Redis(REDIS_URL)
    await client.script('LOAD', DECIDE_SCRIPT)
  })

  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  /** Redis's clock, ms. */
  const redisMs = () => redisTimeMs(client)

  it('answers what the policy answers at the Redis time it reports, and keeps the key as long as its latest lease', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 3 }), fc.array(batchArb, { minLength: 1, maxLength: 12 }), async (limit, batches) => {
        const cc = concurrency({ name: 'cc', limit, leaseMs: LEASE_MS })
        const tb = tokenBucket({ name: 'tb', limit: 1000, window: '1h' })
        const ccKey = `${prefix}{c${run}}`
        const junkKey = `${prefix}{j${run}}`
        const tbKey = `${prefix}{t${run++}}`
        const reference = new ReferenceStore()
        const callOf = (op: number, key: string, policy: Policy, lease: number | undefined): Call =>
          ({
            op,
            keys: [key],
            specs: [specOf(policy.params)],
            cost: 1,
            now: -1,
            chargedAt: 0,
            charged: 1,
            lease: lease === undefined ? undefined : String(lease),
          }) as unknown as Call
        for (const batch of batches) {
          if (batch.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, batch.waitMs))
          await client.set(junkKey, 'not a set')
          const calls = batch.requests.map((r) => {
            if (r.kind === 'rate') return callOf(OP.consume, tbKey, tb, undefined)
            if (r.kind === 'wrong-type') return callOf(r.release ? OP.refund : OP.consume, junkKey, cc, 7)
            return callOf(r.kind === 'acquire' ? OP.consume : OP.refund, ccKey, cc, r.lease)
          })
          const reply = await client.evalsha(...(encodeBatch(calls, false, -1, 0) as [string, number]))
          const decoded = decodeReply(reply, calls)
          if (decoded === undefined) throw new Error(`unreadable reply ${JSON.stringify(reply)}`)
          const now = decoded.redisNow
          batch.requests.forEach((r, i) => {
            const answer = decoded.answers[i]
            if (r.kind === 'wrong-type') {
              // A key of another type fails that request alone, and nothing is written to it.
              expect(answer).toHaveProperty('failed')
              return
            }
            const policy = r.kind === 'rate' ? tb : cc
            const request = {
              keys: ['s'],
              policies: [policy],
              cost: 1,
              now,
              tag: 's',
              lease: r.kind === 'rate' ? undefined : r.lease,
            }
            const expected = r.kind === 'release' ? reference.refund({ ...request, chargedAt: now }) : reference.consume(request)
            expect(answer, `${r.kind} ${JSON.stringify(r)} at ${now}`).toEqual(expected)
          })
          expect(await client.get(junkKey)).toBe('not a set')
          // The set holds the leases the policy holds that were live when it was read (after: Redis
          // drops the key at its latest deadline), and lives until the latest of them ends.
          const members = await client.zrange(ccKey, 0, -1, 'WITHSCORES')
          const after = await redisMs()
          const state = reference.states.get(`${cc.id}\u0000s`) as number[] | undefined
          const held = new Map<string, number>()
          for (let i = 0; state !== undefined && i < state.length; i += 2)
            if (state[i + 1] > after) held.set(String(state[i]), state[i + 1])
          const stored = new Map<string, number>()
          for (let i = 0; i < members.length; i += 2) if (Number(members[i + 1]) > after) stored.set(members[i], Number(members[i + 1]))
          expect(stored).toEqual(held)
          if (members.length > 0) {
            const latest = Math.max(...members.filter((_, i) => i % 2 === 1).map(Number))
            const [pttl, at] = [await client.pttl(ccKey), await redisMs()]
            expect(pttl, 'a set of leases always has a TTL').not.toBe(-1)
            if (pttl === -2) expect(latest, 'gone only once its latest lease ended').toBeLessThanOrEqual(at)
            else expect(at + pttl, 'the key lives until its latest lease ends').toBeGreaterThanOrEqual(latest - 1)
          }
        }
        await client.del(ccKey, junkKey, tbKey)
      }),
      { numRuns: 120 },
    )
  })

  it('sends a lease whose spec index is past one character (79 specs before it) in the general layout, answered alike', async () => {
    const cc = concurrency({ name: 'cc', limit: 2, leaseMs: '1m' })
    const buckets = Array.from({ length: 79 }, (_, i) => tokenBucket({ name: `tb${i}`, limit: 10 + i, window: '1h' }))
    const ccKey = `${prefix}{wide}`
    const call = (op: number, key: string, policy: Policy, lease: string | undefined): Call =>
      ({ op, keys: [key], specs: [specOf(policy.params)], cost: 1, now: -1, chargedAt: 0, charged: 1, lease }) as unknown as Call
    const rates = buckets.map((b, i) => call(OP.consume, `${prefix}{wide-tb${i}}`, b, undefined))
    // First the lease alone at index 1 (short), then past the rate specs at index 80 (general).
    const first = call(OP.consume, ccKey, cc, '11')
    const acquire = [...rates, call(OP.consume, ccKey, cc, '12')]
    const release = [...rates, call(OP.refund, ccKey, cc, '12'), call(OP.refund, ccKey, cc, '11')]
    const shortArgs = encodeBatch([first], false, -1, 0)
    expect(shortArgs.slice(-1)).toEqual(['a111'])
    const acquireArgs = encodeBatch(acquire, false, -1, 0)
    expect(acquireArgs.slice(-5), 'op 1 + 32 (the lease follows), cost, count, spec index, lease').toEqual([33, 1, 1, 80, '12'])
    const ask = async (calls: Call[]) => {
      const decoded = decodeReply(await client.evalsha(...(encodeBatch(calls, false, -1, 0) as [string, number])), calls)
      if (decoded === undefined) throw new Error('unreadable reply')
      return decoded
    }
    const one = await ask([first])
    expect(one.answers[0]).toMatchObject({ allowed: true, results: [1, expect.any(Number), 0] })
    const two = await ask(acquire)
    expect(two.answers[79]).toMatchObject({ allowed: true, results: [0, expect.any(Number), 0] })
    expect((await client.zrange(ccKey, 0, -1)).sort()).toEqual(['11', '12'])
    const back = await ask(release)
    expect(back.answers[79]).toMatchObject({ allowed: true, results: [1, expect.any(Number), 0] })
    expect(back.answers[80]).toMatchObject({ allowed: true, results: [2, expect.any(Number), 0] })
    expect(await client.exists(ccKey)).toBe(0)
    await client.del(...rates.map((r) => r.keys[0]))
  })
})
