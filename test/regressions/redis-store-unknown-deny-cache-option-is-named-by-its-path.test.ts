// A misspelt option inside `denyCache` (`new RedisStore({ client, denyCache: { max: 5 } })`) was
// reported by its bare name (`"max" is not an option`, `option: 'max'`), unlike the store's other
// errors (`denyCache.maxEntries`): the user could not tell which object held it. It is now named
// by its path.
import { Redis } from 'ioredis'
import { expect, it } from 'vitest'
import { RedisStore } from '../../src/stores/redis/index.js'

it('names denyCache.max', () => {
  const client = new Redis({ lazyConnect: true })
  let thrown: unknown
  try {
    new RedisStore({ client, denyCache: { max: 5 } as never })
  } catch (error) {
    thrown = error
  }
  client.disconnect()
  expect(thrown).toMatchObject({ code: 'ERR_RK_UNKNOWN_OPTION', option: 'denyCache.max' })
  expect((thrown as Error).message).toContain('"denyCache.max" is not an option')
})
