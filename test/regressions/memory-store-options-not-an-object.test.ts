// `new MemoryStore(null)` threw ERR_RK_INVALID_OPTION where every other factory and store
// (createLimiter, the policies, RedisStore, PostgresStore) throws ERR_RK_INVALID_ARGUMENT for an
// options argument that is not an object, as docs/errors.md says: one code for one mistake.

import { expect, it } from 'vitest'
import { ConfigurationError, MemoryStore } from '../../src/index.js'

it.each([null, 5, 'maxKeys=10', true])('new MemoryStore(%j) throws ERR_RK_INVALID_ARGUMENT naming "options"', (options) => {
  let thrown: unknown
  try {
    new MemoryStore(options as never)
  } catch (error) {
    thrown = error
  }
  expect(thrown).toBeInstanceOf(ConfigurationError)
  expect({ code: (thrown as ConfigurationError).code, option: (thrown as ConfigurationError).option }).toEqual({
    code: 'ERR_RK_INVALID_ARGUMENT',
    option: 'options',
  })
})
