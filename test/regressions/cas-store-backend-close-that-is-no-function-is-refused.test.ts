// casStore({ backend }) checked get, commit and delete, but not the optional close: a backend
// whose `close` was not a function (a flag, a closed client's property) was taken, and the
// mistake surfaced only at shutdown, as "backend.close is not a function" out of limiter.close().
// It is now refused at construction, naming the option.
import { expect, it } from 'vitest'
import { casStore } from '../../src/index.js'

const backend = { get: () => [], commit: () => true, delete: () => {} }

it('refuses a backend whose close is not a function, naming backend.close', () => {
  expect(() => casStore({ backend: { ...backend, close: true as never } })).toThrow(
    expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'backend.close' }),
  )
})

it('takes a backend without close, or with a close function', async () => {
  await casStore({ backend }).close()
  let closed = false
  await casStore({
    backend: {
      ...backend,
      close: () => {
        closed = true
      },
    },
  }).close()
  expect(closed).toBe(true)
})
