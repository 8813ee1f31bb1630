// An ioredis or iovalkey Cluster sends again, after retryDelayOnFailover (100 ms), a command whose
// node connection closed before its reply came ("Connection is closed."). Redis may have run the
// script already: the reply was lost with the connection, not the command. With a timeoutMs above
// that delay (250 ms is what the docs advise with `replicas` or a resharding node-redis 4), the copy
// ran again within its deadline and charged every request of the batch a second time, and the
// callers were admitted on the second answer, with nothing reported. Below, the master runs the
// batch and then, in the same turn of its event loop, closes the store's connection to it (DEBUG
// SLEEP holds both commands until then), so the reply is never written.
// Now such a call fails (a StoreError: it may have run, as with node-redis, which never sends it
// again) and the outage is reported. Each request is charged at most once, whatever the library.

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { keySlot } from '../../src/stores/redis/slots.js'
import { masterOfSlot } from '../helpers/redis-cluster-ops.js'
import { type RedisCluster, redisServerFor, startCluster } from '../helpers/redis-servers.js'
import { STORE_CLIENTS } from '../stores/redis/clients.js'

const LIMIT = 1_000_000
const REQUESTS = 5
const PREFIX = `rkt-clresend-${process.pid}`

const available = redisServerFor('the Cluster lost-connection resend regression test')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.runIf(available)('a Cluster call in flight on a node connection that closes', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startCluster(3, { args: ['--enable-debug-command', 'yes'] })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it.each(STORE_CLIENTS)('$name: is charged at most once, and the loss is heard', async (library) => {
    const handle = library.cluster(cluster.startupNodes)
    await handle.ready
    // A deadline far beyond the client's own retry delay, so that a copy is not refused for being late.
    const store = new RedisStore({ client: handle.client, timeoutMs: 3000, prefix: PREFIX })
    const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'count', limit: LIMIT, window: '1d' })], onStoreError: 'deny' })
    const warnings: string[] = []
    limiter.on('warn', (w) => warnings.push(w.code))
    const key = `k-${library.name.replace(/\W/g, '')}`
    expect((await limiter.consume(key)).reason).toBe('ok')

    const master = await masterOfSlot(cluster.startupNodes[0].port, keySlot(`${PREFIX}:{${key}}:`))
    const sleeper = new Redis(master.port, '127.0.0.1')
    const killer = new Redis(master.port, '127.0.0.1')
    try {
      const own = new Set([String(await sleeper.client('ID')), String(await killer.client('ID'))])
      const list = String(await killer.call('CLIENT', 'LIST', 'TYPE', 'normal'))
      const theirs = [...list.matchAll(/\bid=(\d+)/g)].map((m) => m[1]).filter((id) => !own.has(id))
      expect(theirs.length).toBeGreaterThan(0)

      // The master sleeps; the batch and then the kills wait in their sockets and run in one turn of its loop.
      const slept = sleeper.call('DEBUG', 'SLEEP', '0.3')
      await sleep(50)
      const decisions = Promise.all(Array.from({ length: REQUESTS }, () => limiter.consume(key)))
      await sleep(50)
      const killed = Promise.all(theirs.map((id) => killer.client('KILL', 'ID', id)))
      await slept
      await killed
      const admitted = (await decisions).filter((d) => d.allowed).length
      // Long enough for any copy to have run.
      await sleep(500)
      // Read once the client serves the slot again (node-redis reconnects to the node first).
      let peek = await limiter.peek(key)
      for (let i = 0; peek.reason === 'store-error' && i < 200; i++) {
        await sleep(50)
        peek = await limiter.peek(key)
      }
      expect(peek.reason).not.toBe('store-error')
      const counted = LIMIT - peek.remaining - 1
      expect(counted).toBeLessThanOrEqual(REQUESTS)
      expect(counted).toBeGreaterThanOrEqual(admitted)
      if (admitted < REQUESTS) expect(warnings).toContain('RK_REDIS_CONNECTION')
    } finally {
      sleeper.disconnect()
      killer.disconnect()
      store.close()
      handle.close()
    }
  })
})
