// A call whose reply never came back (the database committed it; the network path then dropped
// the answer: no FIN, no RST) kept its keys busy until pg gave up on it, 5 s past its deadline.
// Every later request on those keys waited behind it and timed out too: one lost reply on a key
// every client shares (a route's global limit) failed all of them for 5 s, admitted uncounted
// under onStoreError 'allow', or all denied under 'deny'. Once every request of a call has been
// told it timed out, its keys are free: the next call goes over another connection, and the
// compare-and-set finds the charge the lost call made, so nothing is counted twice or lost.

import type net from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { tokenBucket } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { DATABASE_URL, describePostgres, uniqueSchema } from '../helpers/postgres.js'
import { type PostgresProxy, startPostgresProxy } from '../helpers/postgres-proxy.js'

describePostgres('a call whose reply is lost after its commit', () => {
  const direct = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
  const schema = uniqueSchema('lostreply')
  /** While set, the database's replies are dropped (its requests still reach it). */
  let dropReplies = false
  /** A connection that lost one reply stays dead: pg's protocol has no way to skip a reply. */
  const dead = new Set<net.Socket>()
  let proxy: PostgresProxy
  let pool: pg.Pool

  beforeAll(async () => {
    await direct.query(`CREATE SCHEMA "${schema}"`)
    proxy = await startPostgresProxy({
      toClient: (client) => {
        if (dropReplies) dead.add(client)
        return !dead.has(client)
      },
    })
    pool = new pg.Pool({ connectionString: proxy.url, max: 2 })
  })

  afterAll(async () => {
    await proxy.close()
    await pool.end().catch(() => {})
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
