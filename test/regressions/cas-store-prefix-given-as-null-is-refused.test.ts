// casStore({ prefix: null }) read null as "not passed" and wrote every key under the default 'rk',
// silently: two stores meant to be kept apart on one backend (one with a prefix left null by a
// missing setting) then shared their counters. `undefined` alone means "not passed"; null is
// refused, naming the option.
import { expect, it } from 'vitest'
import { casStore } from '../../src/index.js'

const backend = { get: () => [], commit: () => true, delete: () => {} }

it('refuses prefix: null, naming the option', () => {
  expect(() => casStore({ backend, prefix: null as never })).toThrow(
    expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'prefix' }),
  )
})

it('takes a prefix, or none', () => {
  expect(() => casStore({ backend, prefix: 'tenant-a' })).not.toThrow()
  expect(() => casStore({ backend })).not.toThrow()
})
