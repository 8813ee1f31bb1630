// A call waiting for a row lock held by another transaction timed out in Node (the limiter
// applied onStoreError), yet once the lock was released the waiting statement went on and
// charged the bucket: a count nobody was told about. The decide function now checks the deadline
// after writing and undoes the writes when it has passed.

import { afterAll, beforeAll, expect, it } from 'vitest'
import { StoreError, tokenBucket } from '../../src/index.js'
import type { PostgresStore } from '../../src/stores/postgres/index.js'
import { describePostgres, postgresFixture } from '../helpers/postgres.js'

const policy = tokenBucket({ name: 'locked', limit: 5, window: '1h' })
const req = (key: string) => ({ keys: [key], policies: [policy], cost: 1, now: Date.now(), tag: key })

describePostgres('a write that reaches past its deadline', () => {
  let fixture: Awaited<ReturnType<typeof postgresFixture>>
  let store: PostgresStore

  beforeAll(async () => {
    fixture = await postgresFixture('late', undefined, 4)
    store = await fixture.store({ timeoutMs: 200 })
  })

  afterAll(async () => {
    store.close()
    await fixture.drop()
  })

  it('is undone: a call that timed out while a row lock was held charges nothing', async () => {
    expect((await store.consume(req('k'))).results[0]).toBe(4)
    const other = await fixture.pool.connect()
    try {
      await other.query('BEGIN')
      await other.query(`SELECT * FROM "${fixture.schema}".state FOR UPDATE`)
      const calls = [store.consume(req('k')), store.consume(req('k'))]
      for (const call of calls) await expect(call).rejects.toBeInstanceOf(StoreError)
    } finally {
      // Released at once after the timeouts: the statements still waiting go on and write.
      await other.query('ROLLBACK')
      other.release()
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await store.peek(req('k'))).results[0]).toBe(4)
  })
})
