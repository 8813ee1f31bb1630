// A database (or role, or pool) whose default isolation is REPEATABLE READ or SERIALIZABLE takes
// the call's snapshot before the decide function waits for its key locks. A call that waited
// behind another process's write then failed with serialization_failure (40001) instead of
// seeing the new state: with several processes on a hot key about one call in five was a store
// error, and under onStoreError 'allow' each was admitted and counted nowhere. Such a call is now
// decided again, like one that finds its states changed.

import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { tokenBucket } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres/index.js'
import { DATABASE_URL, describePostgres, postgresFixture } from '../helpers/postgres.js'

const PROCESSES = 6
const CALLS = 60
const LIMIT = 150

for (const isolation of ['repeatable read', 'serializable']) {
  describePostgres(`a hot key shared by ${PROCESSES} processes under ${isolation}`, () => {
    let fixture: Awaited<ReturnType<typeof postgresFixture>>
    const pools: pg.Pool[] = []

    beforeAll(async () => {
      fixture = await postgresFixture('isolation')
      ;(await fixture.store()).close()
      for (let i = 0; i < PROCESSES; i++) {
        pools.push(
          new pg.Pool({
            connectionString: DATABASE_URL,
            max: 4,
            options: `-c default_transaction_isolation=${isolation.replace(' ', '\\ ')}`,
          }),
        )
      }
    })

    afterAll(async () => {
      for (const pool of pools) await pool.end()
      await fixture.drop()
    })

    it('admits exactly the limit and fails no call', async () => {
      expect((await pools[0].query('SHOW transaction_isolation')).rows[0].transaction_isolation).toBe(isolation)
      const policy = tokenBucket({ name: 'hot', limit: LIMIT, window: '1h' })
      const stores = pools.map((pool) => new PostgresStore({ pool, table: fixture.table, timeoutMs: 5000 }))
      const failures: string[] = []
      let admitted = 0
      await Promise.all(
        stores.map(async (store) => {
          for (let i = 0; i < CALLS; i++) {
            const request = { keys: ['hot'], policies: [policy], cost: 1, now: Date.now(), tag: 'hot' }
            await store.consume(request).then(
              (result) => {
                if (result.allowed) admitted++
              },
              (error: { code?: string; cause?: { code?: string } }) => failures.push(`${error.code} ${error.cause?.code}`),
            )
          }
        }),
      )
      expect(failures).toEqual([])
      expect(admitted).toBe(LIMIT)
    }, 60_000)
  })
}
