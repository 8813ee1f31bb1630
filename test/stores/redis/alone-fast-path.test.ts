// The script answers a batch holding one token-bucket or fixed-window consume on the Redis clock
// (what a process with one request in flight sends) before it builds its general machinery. That shortcut has no
// caller clock, so the conformance traces (clock 'caller') never take it: this property holds it
// to the TypeScript policies at the Redis time the script reports, through admissions, denials,
// costs it can never admit, refills, charged debts (figures past 2^53 included) and keys of
// another type.

import fc from 'fast-check'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { fixedWindow, tokenBucket } from '../../../src/index.js'
import { newOutcome, type PolicyParams, type PolicyState } from '../../../src/limiter/policy.js'
import type { Call } from '../../../src/stores/redis/batcher.js'
import { decodeReply, encodeBatch } from '../../../src/stores/redis/protocol.js'
import { DECIDE_SCRIPT } from '../../../src/stores/redis/script.js'
import { aloneOf, OP, specOf } from '../../../src/stores/redis/spec.js'
import { deleteUnder, describeRedis, REDIS_URL, redisTimeMs, uniquePrefix } from '../../helpers/redis.js'

/** What the store would send for one request alone: the script's own encoding (Redis clock, no deadline). */
function callOf(op: number, key: string, params: PolicyParams, cost: number): Call {
  return {
    op,
    keys: [key],
    specs: [specOf(params)],
    alone: aloneOf(params),
    cost,
    now: -1,
    chargedAt: 0,
    charged: 0,
    lease: undefined,
  } as unknown as Call
}

/** A stored state read back: a token bucket's TAT; a fixed window's index and count (doubles past 2^32 - 1). */
function stateOf(kind: string, stored: Buffer): PolicyState {
  if (kind === 'token-bucket') return stored.readDoubleLE(0)
  return [stored.readDoubleLE(0), stored.length === 16 ? stored.readDoubleLE(8) : stored.readUInt32LE(8)]
}

const step = fc.record({
  /** consume (mostly), or a charge (debt, up to far past 2^53 ms of a day's bucket), or a string in the key. */
  kind: fc.oneof(
    { weight: 8, arbitrary: fc.constant('consume' as const) },
    fc.constant('charge' as const),
    fc.constant('wrong-type' as const),
  ),
  cost: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 3 }) },
    fc.constant(0),
    fc.integer({ min: 4, max: 9 }),
    fc.constant(1_000_000_000),
  ),
  waitMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 12 })),
})

describeRedis('Redis decide script: one token-bucket or fixed-window consume alone', () => {
  const prefix = uniquePrefix('alone')
  let client: Redis
  let run = 0

  beforeAll(async () => {
    client = new Redis(REDIS_URL)
    await client.script('LOAD', DECIDE_SCRIPT)
  })

  /** Redis's clock, ms. */
  const redisMs = () => redisTimeMs(client)

  afterAll(async () => {
    await deleteUnder(client, prefix)
    client.disconnect()
  })

  it('answers what the policy answers at the Redis time it reports, and stores what it stores', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('token-bucket', 'fixed-window'),
        fc.integer({ min: 0, max: 4 }),
        fc.constantFrom('20ms', '50ms', '1d'),
        fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
        fc.array(step, { minLength: 1, maxLength: 25 }),
        async (kind, limit, window, burstOver, steps) => {
          const burst = burstOver === undefined || limit === 0 ? undefined : limit + burstOver
          const policy =
            kind === 'token-bucket' ? tokenBucket({ name: 'tb', limit, window, burst }) : fixedWindow({ name: 'fw', limit, window })
          const tpm = policy.params.kind === 'token-bucket' ? policy.params.ticksPerMs : 1
          const key = `${prefix}{r${run++}}`
          let state: PolicyState | undefined
          for (const s of steps) {
            if (s.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, s.waitMs))
            if (s.kind === 'wrong-type') {
              // A key of another type (a sorted set): the request fails (status -2) and nothing is written.
              await client.del(key)
              await client.zadd(key, 1, 'not a bucket')
              const call = callOf(OP.consume, key, policy.params, s.cost)
              const decoded = decodeReply(await client.evalsha(...(encodeBatch([call], false, -1, 0) as [string, number])), [call])
              expect(decoded?.answers[0]).toHaveProperty('failed')
              expect(await client.zrange(key, 0, -1)).toEqual(['not a bucket'])
              await client.del(key)
              state = undefined
              continue
            }
            const op = s.kind === 'consume' ? OP.consume : OP.charge
            const call = callOf(op, key, policy.params, s.cost)
            const args = encodeBatch([call], false, -1, 0)
            // A consume alone of a cost the policy can admit goes compact: sha, 1 key, the key, the
            // deadline, the policy's head ("t…" or "f…"), then the cost unless it is 1; any other
            // request, in the general layout (the extra TTL, a number, where the head would be).
            const capacity = policy.params.kind === 'token-bucket' ? policy.params.burst : limit
            const compact = op === OP.consume && limit > 0 && s.cost > 0 && s.cost <= capacity
            expect(/^[tf]/.test(String(args[4]))).toBe(compact)
            if (compact) expect(args).toHaveLength(s.cost === 1 ? 5 : 6)
            const reply = await client.evalsha(...(args as [string, number]))
            const decoded = decodeReply(reply, [call])
            if (decoded === undefined) throw new Error(`unreadable reply ${JSON.stringify(reply)}`)
            const now = decoded.redisNow
            const answer = decoded.answers[0]
            if (answer === undefined || 'failed' in answer) throw new Error(`failed: ${JSON.stringify(answer)}`)
            const out = newOutcome()
            if (op === OP.consume) {
              policy.step(state, s.cost, now, out)
              expect({ allowed: answer.allowed, figures: answer.results }).toEqual({
                allowed: out.allowed,
                figures: [out.remaining, out.resetAt, out.retryAfterMs],
              })
              if (out.allowed && s.cost > 0) state = out.state
            } else {
              policy.charge(state, s.cost, now, out)
              expect(answer.results.slice(0, 2)).toEqual([out.remaining, out.resetAt])
              state = out.state
            }
            // The stored TAT is the policy's state; a key gone is a full bucket (its TTL ended when the bucket was full again).
            const stored = await client.getBuffer(key)
            if (stored !== null) expect(stateOf(kind, stored)).toEqual(state)
            else if (typeof state === 'number') expect(Math.ceil(state / tpm)).toBeLessThanOrEqual(await redisMs())
            else if (state !== undefined)
              expect(((state[0] as number) + 1) * (policy.params.kind === 'fixed-window' ? policy.params.windowMs : 0)).toBeLessThanOrEqual(
                await redisMs(),
              )
          }
        },
      ),
      {
        numRuns: 200,
        // A day's bucket charged 1e9 owes until past 2^53 ms: the consumes after it still answer exactly.
        examples: [
          [
            'token-bucket',
            1,
            '1d',
            undefined,
            [
              { kind: 'charge', cost: 1_000_000_000, waitMs: 0 },
              { kind: 'consume', cost: 1, waitMs: 0 },
              { kind: 'consume', cost: 0, waitMs: 1 },
            ],
          ],
          [
            'fixed-window',
            4,
            '20ms',
            undefined,
            [
              { kind: 'charge', cost: 1_000_000_000, waitMs: 0 },
              { kind: 'consume', cost: 1, waitMs: 0 },
              { kind: 'consume', cost: 2, waitMs: 25 },
            ],
          ],
        ],
      },
    )
  }, 120_000)

  it('refuses a compact batch past its deadline, touching nothing, and adds the extra TTL to the TTL it writes', async () => {
    const policy = tokenBucket({ name: 'tb', limit: 10, window: '1s' })
    const key = `${prefix}{deadline}`
    const call = callOf(OP.consume, key, policy.params, 1)
    const late = decodeReply(await client.evalsha(...(encodeBatch([call], false, (await redisMs()) - 5, 0) as [string, number])), [call])
    expect(late?.late).toBe(true)
    expect(await client.exists(key)).toBe(0)
    const args = encodeBatch([call], false, (await redisMs()) + 60_000, 60_000)
    expect(args).toHaveLength(7)
    const decoded = decodeReply(await client.evalsha(...(args as [string, number])), [call])
    const answer = decoded?.answers[0]
    if (decoded === undefined || answer === undefined || 'failed' in answer) throw new Error(`failed: ${JSON.stringify(answer)}`)
    expect(answer.allowed).toBe(true)
    // A token comes back in 100 ms: the key lives that long, plus the extra 60 s.
    expect(answer.results[1] - decoded.redisNow).toBe(100)
    const ttl = await client.pttl(key)
    expect(ttl).toBeGreaterThan(60_000)
    expect(ttl).toBeLessThanOrEqual(60_100)
  })
})
