// A misspelt option inside `retry`, `pace`, `queue` or `queue.rate` was reported by its bare name
// (`"maxRetries" is not an option`, `option: 'windowMs'`), unlike every other client error
// (`retry.retries`, `queue.rate.limit`, `rateLimit.retries`): the user could not tell which of
// their objects held it. It is now named by its path.
import { expect, it } from 'vitest'
import { createClient } from '../../src/client/index.js'

it.each([
  [{ retry: { maxRetries: 5 } }, 'retry.maxRetries'],
  [{ pace: { treshold: 1 } }, 'pace.treshold'],
  [{ queue: { rps: 1 } }, 'queue.rps'],
  [{ queue: { rate: { limit: 1, windowMs: 1000 } } }, 'queue.rate.windowMs'],
])('%j names %s', (options, path) => {
  let thrown: unknown
  try {
    createClient(options as never)
  } catch (error) {
    thrown = error
  }
  expect(thrown).toMatchObject({ code: 'ERR_RK_UNKNOWN_OPTION', option: path })
  expect((thrown as Error).message).toContain(`"${path}" is not an option`)
})
