// A call whose reply never came back (the database committed it; the network path then dropped
// the answer: no FIN, no RST) kept its keys busy until pg gave up on it, 5 s past its deadline.
// Every later request on those keys waited behind it and timed out too: one lost reply on a key
// every client shares (a route's global limit) failed all of them for 5 s, admitted uncounted
// under onStoreError 'allow', or all denied under 'deny'. Once every request of a call has been
// told it timed out, its keys are free: the next call goes over another connection, and the
// compare-and-set finds the charge the lost call made, so nothing is counted twice or lost.

import net from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { tokenBucket } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { DATABASE_URL, describePostgres, uniqueSchema } from '../helpers/postgres.js'

describePostgres('a call whose reply is lost after its commit', () => {
  const direct = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
  const schema = uniqueSchema('lostreply')
  /** While set, the database's replies are dropped (its requests still reach it). */
  let dropReplies = false
  const sockets: net.Socket[] = []
  const upstreamUrl = new URL(DATABASE_URL)
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(upstreamUrl.port || 5432), upstreamUrl.hostname)
    sockets.push(client, upstream)
    // A connection that lost one reply stays dead: pg's protocol has no way to skip a reply.
    let dead = false
    client.on('data', (data) => upstream.write(data))
    upstream.on('data', (data) => {
      if (dropReplies) dead = true
      if (!dead) client.write(data)
    })
    client.on('error', () => {})
    upstream.on('error', () => {})
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  let pool: pg.Pool

  beforeAll(async () => {
    await direct.query(`CREATE SCHEMA "${schema}"`)
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    const url = new URL(DATABASE_URL)
    url.hostname = '127.0.0.1'
    url.port = String((proxy.address() as net.AddressInfo).port)
    pool = new pg.Pool({ connectionString: url.toString(), max: 2 })
  })

  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await pool.end().catch(() => {})
    await new Promise((resolve) => proxy.close(resolve))
    await direct.query(`DROP SCHEMA "${schema}" CASCADE`)
    await direct.end()
  })

  it('frees its keys once its requests timed out: the next ones are decided at once, counting the lost charge once', async () => {
    const store = new PostgresStore({ pool, table: `${schema}.state`, timeoutMs: 200 })
    await store.createSchema()
    const policy = tokenBucket({ name: 'shared', limit: 3, window: '1h' })
    const consume = () =>
      store.consume({ keys: ['route'], policies: [policy], cost: 1, now: Date.now(), tag: 'route' }).then(
        (r) => `${r.allowed ? 'admitted' : 'denied'} ${r.results[0]}`,
        (error: { code?: string }) => error.code,
      )
    expect(await consume()).toBe('admitted 2')
    dropReplies = true
    expect(await consume()).toBe('ERR_RK_STORE_TIMEOUT')
    dropReplies = false
    // The lost call was committed: one unit left, then none.
    expect([await consume(), await consume()]).toEqual(['admitted 0', 'denied 0'])
    store.close()
  }, 20_000)
})
