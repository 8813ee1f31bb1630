// When the network path of the pool's connections dies (a failover that moves the database, a
// NAT or firewall that forgets them: no FIN, no RST), a call sent on one waits for a reply that
// never comes. The store had no bound on that wait: each such call kept its pool connection and
// one of the store's calls in flight for good (until the kernel gives up on the socket: about 15
// minutes, or never once the query was acknowledged), so after a blip that hit every connection the
// store timed out every request from then on, although new connections worked, and the
// application's own queries were short of those connections too.

import type net from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { tokenBucket } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { DATABASE_URL, describePostgres, uniqueSchema } from '../helpers/postgres.js'
import { type PostgresProxy, startPostgresProxy } from '../helpers/postgres-proxy.js'

describePostgres('a connection whose network path died', () => {
  const direct = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
  const schema = uniqueSchema('deadpath')
  /** Client sockets whose traffic is dropped from now on, both ways. */
  const dead = new Set<net.Socket>()
  let proxy: PostgresProxy
  let pool: pg.Pool

  beforeAll(async () => {
    await direct.query(`CREATE SCHEMA "${schema}"`)
    proxy = await startPostgresProxy({ toServer: (client) => !dead.has(client), toClient: (client) => !dead.has(client) })
    pool = new pg.Pool({ connectionString: proxy.url, max: 3 })
    pool.on('error', () => {})
  })

  afterAll(async () => {
    await proxy.close()
    await pool.end().catch(() => {})
    await direct.query(`DROP SCHEMA "${schema}" CASCADE`)
    await direct.end()
  })

  it('is given back to the pool, and the store answers again over new connections', async () => {
    const store = new PostgresStore({ pool, table: `${schema}.state`, timeoutMs: 100 })
    await store.createSchema()
    const policy = tokenBucket({ name: 'path', limit: 5, window: '1m' })
    const consume = () =>
      store.consume({ keys: [`k${Math.random()}`], policies: [policy], cost: 1, now: Date.now(), tag: 't' }).then(
        () => 'answered',
        (error: { code?: string }) => error.code,
      )
    // Every connection of the pool open (and the database's clock learnt).
    const held = await Promise.all([pool.connect(), pool.connect(), pool.connect()])
    for (const client of held) client.release()
    expect(await consume()).toBe('answered')
    for (const socket of proxy.accepted) dead.add(socket)
    expect(await Promise.all([consume(), consume(), consume(), consume()])).toEqual(Array(4).fill('ERR_RK_STORE_TIMEOUT'))
    // New connections reach the database; the dead ones never answer.
    let outcome: unknown
    for (let i = 0; i < 100 && outcome !== 'answered'; i++) {
      outcome = await consume()
      if (outcome !== 'answered') await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(outcome).toBe('answered')
    store.close()
  }, 60_000)

  it('is not confused with one whose answer waits unread through a 1.5 s stall of the event loop', async () => {
    // Straight to the database: the proxy runs in this process, and would stall too.
    const store = new PostgresStore({ pool: direct, table: `${schema}.state`, timeoutMs: 100 })
    const policy = tokenBucket({ name: 'stall', limit: 5, window: '1m' })
    const request = () => ({ keys: ['stalled'], policies: [policy], cost: 1, now: Date.now(), tag: 't' })
    expect((await store.consume(request())).results[0]).toBe(4)
    const call = store.consume(request()).then(
      (result) => result.results[0],
      (error: { code?: string }) => error.code,
    )
    // The call goes out; the answer comes back into the socket while this process is busy for
    // 1.5 s (a long synchronous task, a GC pause): it is read before any timer fails the call.
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    const until = performance.now() + 1500
    while (performance.now() < until) {
      // busy
    }
    expect(await call).toBe(3)
    store.close()
  })
})
