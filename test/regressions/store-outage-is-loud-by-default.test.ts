// With the default onStoreError 'allow', a store outage lets every request through: nobody must
// learn of it only from a missing header. The first failure of an outage and the recovery each
// print one line (process.emitWarning, or the `logger` option), never one per request; store
// `warn` events are as loud when nobody listens for them.

import { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import { withRateLimit } from '../../adapters/fetch.js'
import { createLimiter, fixedWindow, type Store, StoreError, type StoreEvents, type StoreRequest } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis/index.js'
import { uniquePrefix } from '../helpers/redis.js'
import { redisServerFor, startRedisServer } from '../helpers/redis-servers.js'
import { ready } from '../stores/redis/clients.js'

const policies = [fixedWindow({ name: 'per-minute', limit: 100, window: '1m' })]

/** A store that fails while `down` is set, and can report store-wide warnings. */
function flakyStore() {
  let events: StoreEvents | undefined
  const state = { down: false }
  const answer = (request: StoreRequest) => {
    if (state.down) return Promise.reject(new StoreError('ERR_RK_STORE', 'backend unreachable'))
    return Promise.resolve({ allowed: true, now: request.now, results: [99, request.now + 60_000, 0] })
  }
  const store: Store = {
    consume: answer,
    peek: answer,
    refund: answer,
    reset: () => {},
    close: () => {},
    attach: (e) => {
      events = e
    },
  }
  return { store, state, warn: (code: string) => events?.warn?.({ code, message: `store says ${code}` }) }
}

/** The limiters' clock: an outage ends only after a second without failures. */
let t = 0
const now = () => t

let emitWarning: MockInstance<typeof process.emitWarning>
beforeEach(() => {
  t = 0
  emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
})
afterEach(() => {
  emitWarning.mockRestore()
})

const codesPrinted = () => emitWarning.mock.calls.map((args) => (args[1] as { code?: string } | undefined)?.code)

describe('a store outage', () => {
  it('prints one warning when it starts and one when the store is back, per outage', async () => {
    const { store, state } = flakyStore()
    const limiter = createLimiter({ store, now, policies })
    await limiter.consume('k')
    expect(codesPrinted()).toEqual([])
    state.down = true
    for (let i = 0; i < 20; i++) expect((await limiter.consume(`k${i}`)).reason).toBe('store-error')
    expect(codesPrinted()).toEqual(['RK_STORE_OUTAGE'])
    t += 1000 // the store has not failed for a second: the outage is over
    state.down = false
    for (let i = 0; i < 5; i++) expect((await limiter.consume('k')).reason).toBe('ok')
    expect(codesPrinted()).toEqual(['RK_STORE_OUTAGE', 'RK_STORE_RECOVERED'])
    // A second outage is announced again.
    state.down = true
    await limiter.consume('k')
    await limiter.peek('k')
    expect(codesPrinted()).toEqual(['RK_STORE_OUTAGE', 'RK_STORE_RECOVERED', 'RK_STORE_OUTAGE'])
    expect(String(emitWarning.mock.calls[0][0])).toMatch(/onStoreError 'allow'/)
  })

  it('a store that fails some calls and answers others is one outage, over after a quiet second', async () => {
    const { store, state } = flakyStore()
    const limiter = createLimiter({ store, now, policies })
    for (let i = 0; i < 40; i++) {
      state.down = i % 2 === 0
      await limiter.consume(`k${i}`)
      t += 10
    }
    expect(codesPrinted()).toEqual(['RK_STORE_OUTAGE'])
    state.down = true
    await limiter.consume('last failure')
    state.down = false
    t += 999
    await limiter.consume('k')
    expect(codesPrinted()).toEqual(['RK_STORE_OUTAGE'])
    t += 1
    await limiter.consume('k')
    expect(codesPrinted()).toEqual(['RK_STORE_OUTAGE', 'RK_STORE_RECOVERED'])
  })

  it('several limiters on one failing store print one line, not one each', async () => {
    const { store, state } = flakyStore()
    const limiters = [
      createLimiter({ store, now, policies }),
      createLimiter({ store, now, policies }),
      createLimiter({ store, now, policies }),
    ]
    state.down = true
    for (const limiter of limiters) await limiter.consume('k')
    t += 1000 // the store has not failed for a second: the outage is over
    state.down = false
    for (const limiter of limiters) await limiter.consume('k')
    expect(codesPrinted()).toEqual(['RK_STORE_OUTAGE', 'RK_STORE_RECOVERED'])
  })

  it('goes to the logger when one is given, and nothing is printed', async () => {
    const { store, state } = flakyStore()
    const logger = { warn: vi.fn(), info: vi.fn() }
    const limiter = createLimiter({ store, now, policies, logger })
    state.down = true
    for (let i = 0; i < 10; i++) await limiter.consume('k')
    t += 1000 // the store has not failed for a second: the outage is over
    state.down = false
    for (let i = 0; i < 10; i++) await limiter.consume('k')
    expect(logger.warn).toHaveBeenCalledTimes(1)
    expect(logger.info).toHaveBeenCalledTimes(1)
    expect(String(logger.warn.mock.calls[0][0])).toMatch(/ratekeeper/)
    expect(codesPrinted()).toEqual([])
  })

  it('a logger without info gets the recovery as a warning', async () => {
    const { store, state } = flakyStore()
    const logger = { warn: vi.fn() }
    const limiter = createLimiter({ store, now, policies, logger })
    state.down = true
    await limiter.consume('k')
    t += 1000 // the store has not failed for a second: the outage is over
    state.down = false
    await limiter.consume('k')
    expect(logger.warn).toHaveBeenCalledTimes(2)
  })

  it('is announced as a warn event too; with a warn listener nothing is printed', async () => {
    const { store, state } = flakyStore()
    const limiter = createLimiter({ store, now, policies })
    const heard: string[] = []
    limiter.on('warn', (w) => heard.push(w.code))
    state.down = true
    await limiter.consume('k')
    await limiter.consume('k')
    t += 1000 // the store has not failed for a second: the outage is over
    state.down = false
    await limiter.consume('k')
    expect(heard).toEqual(['RK_STORE_OUTAGE', 'RK_STORE_RECOVERED'])
    expect(codesPrinted()).toEqual([])
  })

  it('the adapters take the logger option', async () => {
    const { store, state } = flakyStore()
    const logger = { warn: vi.fn(), info: vi.fn() }
    const handler = withRateLimit(async () => new Response('ok'), { policies, store, now, logger, ip: () => '203.0.113.7' })
    state.down = true
    for (let i = 0; i < 5; i++) expect((await handler(new Request('http://localhost/'))).status).toBe(200)
    expect(logger.warn).toHaveBeenCalledTimes(1)
    expect(codesPrinted()).toEqual([])
  })

  it('a bad logger is rejected at start-up', () => {
    for (const logger of [null, 'console', {}, { warn: 'x' }, { warn: () => {}, info: 1 }]) {
      expect(() => createLimiter({ store: flakyStore().store, now, policies, logger: logger as never })).toThrow(
        expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'logger' }),
      )
    }
  })
})

describe('store warnings', () => {
  it('are printed once per code when nobody listens for warn', async () => {
    const { store, warn } = flakyStore()
    createLimiter({ store, now, policies })
    for (let i = 0; i < 5; i++) warn('RK_SOMETHING')
    warn('RK_OTHER')
    expect(codesPrinted()).toEqual(['RK_SOMETHING', 'RK_OTHER'])
  })

  it('go to the logger once per code', async () => {
    const { store, warn } = flakyStore()
    const logger = { warn: vi.fn() }
    createLimiter({ store, now, policies, logger })
    for (let i = 0; i < 5; i++) warn('RK_SOMETHING')
    expect(logger.warn).toHaveBeenCalledTimes(1)
    expect(codesPrinted()).toEqual([])
  })

  it('a shared store that warns prints one line, whatever the number of limiters on it', async () => {
    const { store, warn } = flakyStore()
    createLimiter({ store, now, policies })
    createLimiter({ store, now, policies })
    createLimiter({ store, now, policies })
    warn('RK_SOMETHING')
    expect(codesPrinted()).toEqual(['RK_SOMETHING'])
  })

  it('are repeated in the next outage', async () => {
    const { store, state, warn } = flakyStore()
    const limiter = createLimiter({ store, now, policies })
    warn('RK_SOMETHING')
    state.down = true
    await limiter.consume('k')
    t += 1000 // the store has not failed for a second: the outage is over
    state.down = false
    await limiter.consume('k')
    warn('RK_SOMETHING')
    expect(codesPrinted()).toEqual(['RK_SOMETHING', 'RK_STORE_OUTAGE', 'RK_STORE_RECOVERED', 'RK_SOMETHING'])
  })
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.runIf(redisServerFor('the Redis outage regression test'))('a Redis outage, nobody listening', () => {
  it('prints the connection warning and the outage once each, and the recovery once', async () => {
    const server = await startRedisServer()
    const client = new Redis(server.url, { retryStrategy: () => 50 })
    try {
      await ready(client)
      const limiter = createLimiter({ store: new RedisStore({ client, prefix: uniquePrefix('loud') }), policies })
      expect((await limiter.consume('k')).reason).toBe('ok')
      await server.kill()
      while (client.status === 'ready') await sleep(10)
      for (let i = 0; i < 30; i++) {
        expect((await limiter.consume('k')).reason).toBe('store-error')
        await sleep(5)
      }
      await server.restart()
      await ready(client)
      for (let i = 0; i < 10 && (await limiter.consume('k')).reason === 'store-error'; i++) await sleep(50)
      for (let i = 0; i < 10; i++) expect((await limiter.consume('k')).reason).toBe('ok')
      // The outage is over once the store has answered for a second without failing.
      await sleep(1000)
      expect((await limiter.consume('k')).reason).toBe('ok')
      const printed = codesPrinted()
      expect(printed.filter((c) => c === 'RK_REDIS_CONNECTION')).toHaveLength(1)
      expect(printed.filter((c) => c === 'RK_STORE_OUTAGE')).toHaveLength(1)
      expect(printed.filter((c) => c === 'RK_STORE_RECOVERED')).toHaveLength(1)
    } finally {
      client.disconnect()
      await server.stop()
    }
  })
})
