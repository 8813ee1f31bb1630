// Redis Cluster: a 3-master cluster of redis-server processes started (and stopped, by PID) on
// loopback for this suite. The conformance traces and the multi-policy, multi-subject requests
// run on it with ioredis 5 and 6: every request's keys share a hash tag, so one slot, so one
// atomic script call (no CROSSSLOT, no MOVED loop).

import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { concurrency, createLimiter, fixedWindow, MemoryStore, slidingWindow, tokenBucket } from '../../../src/index.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { keySlot } from '../../../src/stores/redis/slots.js'
import { type RedisCluster, redisServerFor, startCluster } from '../../helpers/redis-servers.js'
import { IOREDIS, ready } from './clients.js'
import { ReferenceStore } from './reference.js'
import { concurrencyTraceArb, replayTrace, traceArb } from './traces.js'

const available = redisServerFor('the Redis Cluster suite')

describe.runIf(available)('RedisStore on Redis Cluster (3 masters)', () => {
  let cluster: RedisCluster

  beforeAll(async () => {
    cluster = await startCluster(3)
  }, 60_000)

  afterAll(async () => {
    await cluster?.stop()
  })

  describe.each(IOREDIS)('$name', (version) => {
    const prefix = `rkc${version.name.replace(/\D/g, '')}`
    let client: ReturnType<typeof version.cluster>

    beforeAll(async () => {
      client = version.cluster(cluster.startupNodes)
      await ready(client)
    })

    afterAll(async () => {
      // Every key written has a TTL, on every master.
      let checked = 0
      for (const node of client.nodes('master')) {
        let cursor = '0'
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
          cursor = next
          for (const key of keys) {
            checked++
            expect(await node.pttl(key), key).not.toBe(-1)
          }
        } while (cursor !== '0')
      }
      expect(checked).toBeGreaterThan(0)
      client.disconnect()
    })

    it('gives the reference and MemoryStore answers for random traces', async () => {
      const store = new RedisStore({ client, prefix, clock: 'caller', extraTtlMs: 86_400_000, timeoutMs: 5000 })
      let run = 0
      await fc.assert(
        fc.asyncProperty(traceArb(25), async (trace) => {
          await replayTrace(trace, { reference: new ReferenceStore(), memory: new MemoryStore(), redis: store }, `c${run++}`)
        }),
        { numRuns: 60 },
      )
      await fc.assert(
        fc.asyncProperty(concurrencyTraceArb(25), async (trace) => {
          await replayTrace(trace, { reference: new ReferenceStore(), memory: new MemoryStore(), redis: store }, `cc${run++}`)
        }),
        { numRuns: 40 },
      )
      store.close()
    })

    it('decides concurrency and rate policies of a key and its team in one slot, all or nothing', async () => {
      const store = new RedisStore({ client, prefix })
      const limiter = createLimiter({
        store,
        policies: [concurrency({ name: 'in-flight', limit: 2, leaseMs: '1m' }), tokenBucket({ name: 'burst', limit: 3, window: '1h' })],
        onStoreError: 'deny',
      })
      const team = `cc-team-${Math.random()}`
      const layers = [{ name: 'team', key: team, policies: [concurrency({ name: 'team-in-flight', limit: 3, leaseMs: '1m' })] }]
      const u1 = `u1-${team}`
      const u2 = `u2-${team}`
      const remainingOf = async (key: string, name: string) =>
        (await limiter.peek(key, { layers, cost: 0 })).policies.find((p) => p.name === name)?.remaining
      const d1 = await limiter.consume(u1, { layers })
      const d2 = await limiter.consume(u1, { layers })
      const d3 = await limiter.consume(u1, { layers })
      expect([d1.reason, d2.reason, d3.reason]).toEqual(['ok', 'ok', 'limited'])
      expect(d3.violated).toEqual(['in-flight'])
      // Denied for concurrency: its bucket and the team's slots were not charged.
      expect(await remainingOf(u1, 'burst')).toBe(1)
      expect(await remainingOf(u1, 'team-in-flight')).toBe(1)
      // u2 takes the team's last slot; its next request is denied by the team, and charges nothing.
      const e1 = await limiter.consume(u2, { layers })
      const e2 = await limiter.consume(u2, { layers })
      expect([e1.reason, e2.reason]).toEqual(['ok', 'limited'])
      expect(e2.violated).toEqual(['team-in-flight'])
      expect(await remainingOf(u2, 'burst')).toBe(2)
      expect(await remainingOf(u2, 'in-flight')).toBe(1)
      // Released slots come back, once (a second release does nothing).
      await limiter.release(d1)
      await limiter.release(d1)
      const d4 = await limiter.consume(u1, { layers })
      expect(d4.reason).toBe('ok')
      for (const d of [d2, d4, e1]) await limiter.release(d)
      expect(await remainingOf(u1, 'in-flight')).toBe(2)
      expect(await remainingOf(u1, 'team-in-flight')).toBe(3)
      // Denied by the rate now: no slot is taken.
      const d5 = await limiter.consume(u1, { layers })
      expect(d5.violated).toEqual(['burst'])
      expect(await remainingOf(u1, 'in-flight')).toBe(2)
      expect(await remainingOf(u1, 'team-in-flight')).toBe(3)
      // Every key of the team (sorted sets of leases, buckets) hashes to one slot, with a TTL; a
      // limit whose leases were all released has no key left.
      expect((await limiter.consume(u2, { layers })).reason).toBe('ok')
      const keys: string[] = []
      for (const node of client.nodes('master')) keys.push(...(await node.keys(`${prefix}:{${team}}*`)))
      expect(keys.length).toBe(4)
      const slots = new Set(await Promise.all(keys.map((key) => client.cluster('KEYSLOT', key))))
      expect(slots.size).toBe(1)
      for (const key of keys) expect(await client.pttl(key)).toBeGreaterThan(0)
      store.close()
    })

    it('decides several policies over a key and its team in one slot, all or nothing', async () => {
      const store = new RedisStore({ client, prefix })
      const limiter = createLimiter({
        store,
        policies: [tokenBucket({ name: 'burst', limit: 3, window: '1m' }), slidingWindow({ name: 'hour', limit: 50, window: '1h' })],
        onStoreError: 'deny',
      })
      const layers = [{ name: 'team', key: `team-${Math.random()}`, policies: [fixedWindow({ name: 'team-day', limit: 5, window: '1d' })] }]
      const decisions = []
      for (const user of ['u1', 'u1', 'u1', 'u1', 'u2', 'u2', 'u2'])
        decisions.push(await limiter.consume(`${user}-${layers[0].key}`, { layers }))
      expect(decisions.map((d) => d.reason)).toEqual(['ok', 'ok', 'ok', 'limited', 'ok', 'ok', 'limited'])
      expect(decisions[3].violated).toEqual(['burst'])
      expect(decisions[6].violated).toEqual(['team-day'])
      // u2's own bucket was not charged by the request the team ceiling denied.
      const peek = await limiter.peek(`u2-${layers[0].key}`, { layers })
      expect(peek.policies.find((p) => p.name === 'burst')?.remaining).toBe(1)
      // All of the team's keys hash to one slot.
      const keys: string[] = []
      for (const node of client.nodes('master')) keys.push(...(await node.keys(`${prefix}:{${layers[0].key}}*`)))
      expect(keys.length).toBe(5)
      const slots = new Set(await Promise.all(keys.map((key) => client.cluster('KEYSLOT', key))))
      expect(slots.size).toBe(1)
      store.close()
    })

    it('computes every key slot as Redis does (the store routes its down-node checks by it)', async () => {
      const keys = fc.sample(
        fc.oneof(
          fc.string({ unit: 'grapheme', maxLength: 20 }),
          fc
            .tuple(fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 8 }), fc.string({ maxLength: 8 }))
            .map(([a, b, c]) => `${a}{${b}}${c}`),
        ),
        300,
      )
      for (const key of [...keys, '{}', '{}x', 'a{}b{c}', '{a}{b}', 'rk:{team:acme}:x', '}{']) {
        expect(keySlot(key), key).toBe(await client.cluster('KEYSLOT', key))
      }
    })

    it('spreads different subjects over the masters', async () => {
      const store = new RedisStore({ client, prefix })
      const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 5, window: '1m' })], onStoreError: 'deny' })
      for (let i = 0; i < 60; i++) expect((await limiter.consume(`spread-${i}`)).reason).toBe('ok')
      const perNode = await Promise.all(client.nodes('master').map(async (node) => (await node.keys(`${prefix}:{spread-*`)).length))
      expect(perNode.filter((n) => n > 0).length).toBe(3)
      store.close()
    })

    it('batches requests made together by hash tag: never CROSSSLOT, each decided in order', async () => {
      const store = new RedisStore({ client, prefix })
      const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 2, window: '1m' })], onStoreError: 'deny' })
      const team = `batch-team-${Math.random()}`
      const layers = [{ name: 'team', key: team, policies: [fixedWindow({ name: 'team-day', limit: 100, window: '1d' })] }]
      // 40 subjects on their own tags and 3 requests each of 2 users under one team tag, all in one tick.
      const own = Array.from({ length: 40 }, (_, i) => limiter.consume(`together-${i}-${team}`))
      const teamed = ['u1', 'u1', 'u1', 'u2', 'u2', 'u2'].map((user) => limiter.consume(`${user}-${team}`, { layers }))
      const decisions = await Promise.all([...own, ...teamed])
      expect(decisions.slice(0, 40).every((d) => d.reason === 'ok')).toBe(true)
      expect(decisions.slice(40).map((d) => d.reason)).toEqual(['ok', 'ok', 'limited', 'ok', 'ok', 'limited'])
      store.close()
    })
  })
})
