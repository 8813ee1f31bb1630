// Redis Cluster with the other client libraries the store takes (iovalkey's Cluster, node-redis's
// createCluster 4, 5 and 6), on a 3-master cluster of redis-server processes this suite starts:
// the conformance traces on many hash tags (so every master), a key and its team decided in one
// slot all or nothing, the script reloaded on every master after SCRIPT FLUSH (NOSCRIPT), every
// key with a TTL, and a frozen master failing only its own slots (the others decide on). (ioredis 5 and 6 run the full Cluster suites: cluster.test.ts and
// cluster-failover.test.ts.)

import fc from 'fast-check'
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, tokenBucket } from '../../../src/index.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { keyHead } from '../../../src/stores/redis/keys.js'
import { keySlot } from '../../../src/stores/redis/slots.js'
import { type RedisCluster, redisServerFor, startCluster } from '../../helpers/redis-servers.js'
import { ready, STORE_CLIENTS, type StoreClient } from './clients.js'
import { ReferenceStore } from './reference.js'
import { replayTrace, traceArb } from './traces.js'

const available = redisServerFor('the Redis Cluster suite for other clients')

describe.runIf(available)('RedisStore on Redis Cluster, other client libraries', () => {
  let cluster: RedisCluster
  /** Reads and flushes for the checks, whatever client the store uses. */
  let admin: Cluster

  beforeAll(async () => {
    cluster = await startCluster(3)
    admin = new Cluster([...cluster.startupNodes])
    await ready(admin)
  }, 60_000)

  afterAll(async () => {
    admin?.disconnect()
    await cluster?.stop()
  })

  describe.each(STORE_CLIENTS.filter((library) => !library.name.startsWith('ioredis')))('$name', (library) => {
    const prefix = `rkcc${library.name.replace(/\W/g, '')}`
    let handle: StoreClient

    beforeAll(async () => {
      handle = library.cluster(cluster.startupNodes)
      await handle.ready
    })

    afterAll(async () => {
      let checked = 0
      for (const node of admin.nodes('master')) {
        for (const key of await node.keys(`${prefix}:*`)) {
          checked++
          expect(await node.pttl(key), key).not.toBe(-1)
        }
      }
      expect(checked).toBeGreaterThan(0)
      handle.close()
    })

    it('gives the reference and MemoryStore answers for random traces', async () => {
      const store = new RedisStore({ client: handle.client, prefix, clock: 'caller', extraTtlMs: 86_400_000, timeoutMs: 5000 })
      let run = 0
      await fc.assert(
        fc.asyncProperty(traceArb(25), async (trace) => {
          await replayTrace(trace, { reference: new ReferenceStore(), memory: new MemoryStore(), redis: store }, `c${run++}`)
        }),
        { numRuns: 30 },
      )
      store.close()
    })

    it('decides a key and its team in one slot, all or nothing, and reloads the script on every master after SCRIPT FLUSH', async () => {
      const store = new RedisStore({ client: handle.client, prefix })
      const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'burst', limit: 3, window: '1m' })], onStoreError: 'deny' })
      const team = `team-${Math.random()}`
      const layers = [{ name: 'team', key: team, policies: [fixedWindow({ name: 'team-day', limit: 4, window: '1d' })] }]
      const reasons: string[] = []
      for (let i = 0; i < 4; i++) reasons.push((await limiter.consume(`u1-${team}`, { layers })).reason)
      expect(reasons).toEqual(['ok', 'ok', 'ok', 'limited'])
      // u1's denial charged nothing: the team has one left.
      const keys: string[] = []
      for (const node of admin.nodes('master')) keys.push(...(await node.keys(`${prefix}:{${team}}*`)))
      expect(new Set(await Promise.all(keys.map((key) => admin.cluster('KEYSLOT', key)))).size).toBe(1)

      await Promise.all(admin.nodes('master').map((node) => node.script('FLUSH')))
      // Subjects on many slots (so every master) after the flush: each reloads once and decides.
      const after = await Promise.all(Array.from({ length: 30 }, (_, i) => limiter.consume(`s${i}-${team}`)))
      expect(after.map((d) => d.reason)).toEqual(after.map(() => 'ok'))
      expect((await limiter.consume(`u2-${team}`, { layers })).reason).toBe('ok')
      const last = await limiter.consume(`u2-${team}`, { layers })
      expect(last.reason).toBe('limited')
      expect(last.violated).toEqual(['team-day'])
      store.close()
    })

    it('fails only the slots of a frozen master, each call by its deadline, and recovers when it resumes', async () => {
      const TIMEOUT_MS = 100
      const store = new RedisStore({ client: handle.client, prefix, timeoutMs: TIMEOUT_MS })
      const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'tb', limit: 1000, window: '1h' })], onStoreError: 'deny' })
      const warnings: string[] = []
      // What a client library cannot do is said once at attach (RK_REDIS_CLIENT, node-redis 4): not an outage.
      limiter.on('warn', (w) => w.code !== 'RK_REDIS_CLIENT' && warnings.push(w.code))
      const subjects = Array.from({ length: 30 }, (_, i) => `frz${i}-${Math.random()}`)
      const masterOf = (subject: string) => (admin.slots[keySlot(keyHead(prefix, subject))] ?? [])[0]
      const victim = masterOf(subjects[0])
      const server = cluster.nodes.find((n) => victim === `127.0.0.1:${n.port}`)
      if (server === undefined) throw new Error(`no server for ${victim}`)
      const onVictim = new Set(subjects.filter((s) => masterOf(s) === victim))
      expect(onVictim.size).toBeLessThan(subjects.length)
      for (const d of await Promise.all(subjects.map((s) => limiter.consume(s)))) expect(d.reason).toBe('ok')

      server.pause()
      try {
        for (let round = 0; round < 5; round++) {
          const started = performance.now()
          const decisions = await Promise.all(subjects.map((s) => limiter.consume(s)))
          expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 400)
          expect(decisions.map((d) => d.reason)).toEqual(subjects.map((s) => (onVictim.has(s) ? 'store-error' : 'ok')))
        }
      } finally {
        server.resume()
      }
      const until = performance.now() + 5000
      for (;;) {
        const decisions = await Promise.all(subjects.map((s) => limiter.consume(s)))
        if (decisions.every((d) => d.reason === 'ok')) break
        if (performance.now() > until) throw new Error('the frozen master never served its slots again')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(warnings[0]).toBe('RK_REDIS_CONNECTION')
      store.close()
    })
  })
})
