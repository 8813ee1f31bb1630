// ioredis and iovalkey resend, once they have reconnected, every command they had written to a
// connection that closed before its reply came (autoResendUnfulfilledCommands, on by default). Redis
// may have run the script already: the reply was lost with the connection, not the command. The
// resent script then ran again within its deadline and charged every request of the batch a second
// time, and the callers were admitted on the second answer, with nothing reported. Below, Redis runs
// the batch and then, in the same turn of its event loop, closes the store's connection (DEBUG SLEEP
// holds both commands until then), so the reply is never written.
// Now a call in flight on a connection that closes fails (a StoreError: it may have run, as with
// node-redis, which never resends), the resent copy is refused by the script without touching a key,
// and the outage is reported. Each request is charged at most once, whatever the library.

import { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { type RedisServer, redisServerFor, startRedisServer } from '../helpers/redis-servers.js'
import { STORE_CLIENTS, type StoreClient } from '../stores/redis/clients.js'

const LIMIT = 1_000_000
const REQUESTS = 5

const available = redisServerFor('the lost-connection resend regression test')

describe.runIf(available)('a call in flight on a connection that closes', () => {
  let server: RedisServer
  let handle: StoreClient | undefined
  let store: RedisStore | undefined
  const admins: Redis[] = []

  beforeEach(async () => {
    server = await startRedisServer({ args: ['--enable-debug-command', 'yes'] })
  })

  afterEach(async () => {
    store?.close()
    handle?.close()
    for (const admin of admins.splice(0)) admin.disconnect()
    await server.stop()
  })

  it.each(STORE_CLIENTS)('$name: is charged at most once, and the loss is heard', async (library) => {
    const sleeper = new Redis(server.url)
    const killer = new Redis(server.url)
    admins.push(sleeper, killer)
    const own = new Set([String(await sleeper.client('ID')), String(await killer.client('ID'))])
    handle = library.single(server.url, { reconnectMs: 20 })
    await handle.ready
    // A deadline far beyond the reconnect, so that a resent call is not refused for being late.
    store = new RedisStore({ client: handle.client, timeoutMs: 3000, prefix: `rkt-resend-${process.pid}` })
    const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'count', limit: LIMIT, window: '1d' })], onStoreError: 'deny' })
    const warnings: string[] = []
    limiter.on('warn', (w) => warnings.push(w.code))
    const key = `k-${library.name.replace(/\W/g, '')}`
    expect((await limiter.consume('warm-up')).reason).toBe('ok')
    const list = String(await killer.call('CLIENT', 'LIST', 'TYPE', 'normal'))
    const theirs = [...list.matchAll(/\bid=(\d+)/g)].map((m) => m[1]).filter((id) => !own.has(id))
    expect(theirs.length).toBeGreaterThan(0)

    // Redis sleeps; the batch and then the kills wait in their sockets and run in one turn of its loop.
    const slept = sleeper.call('DEBUG', 'SLEEP', '0.3')
    await new Promise((resolve) => setTimeout(resolve, 50))
    const decisions = Promise.all(Array.from({ length: REQUESTS }, () => limiter.consume(key)))
    await new Promise((resolve) => setTimeout(resolve, 50))
    const killed = Promise.all(theirs.map((id) => killer.client('KILL', 'ID', id)))
    await slept
    await killed
    const admitted = (await decisions).filter((d) => d.allowed).length
    // Long enough for any resent copy to have run.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const remaining = (await limiter.peek(key)).remaining
    const counted = LIMIT - remaining
    expect(counted).toBeLessThanOrEqual(REQUESTS)
    expect(counted).toBeGreaterThanOrEqual(admitted)
    if (admitted < REQUESTS) expect(warnings).toContain('RK_REDIS_CONNECTION')
  })
})
