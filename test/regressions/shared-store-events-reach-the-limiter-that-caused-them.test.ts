// Several limiters may share one store (a Fastify route with options of its own, a limiter per
// router). Each must hear the events its own calls caused, not whichever limiter was created
// last; events no call caused (the connection went away, came back) reach every limiter.

import fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import fastifyRateLimit from '../../adapters/fastify.js'
import {
  createLimiter,
  fixedWindow,
  type LimiterEvents,
  MemoryStore,
  type Store,
  type StoreEvents,
  type StoreRequest,
  tokenBucket,
} from '../../src/index.js'

const policies = [fixedWindow({ name: 'one', limit: 1, window: '1h' })]
const now = () => 1_000_000

describe('a shared memory store', () => {
  it('evictions caused by one limiter are heard by that limiter only', async () => {
    const store = new MemoryStore({ maxKeys: 8 })
    const a = createLimiter({ store, policies, now })
    const b = createLimiter({ store, policies, now })
    const heardA: LimiterEvents['evicted'][] = []
    const heardB: LimiterEvents['evicted'][] = []
    a.on('evicted', (e) => heardA.push(e))
    b.on('evicted', (e) => heardB.push(e))
    // Every key limited (two calls at limit 1): room for new ones means evicting a limited key.
    for (let i = 0; i < 40; i++) {
      a.decide(`a${i}`)
      a.decide(`a${i}`)
    }
    expect(heardA.length).toBeGreaterThan(0)
    expect(heardB).toEqual([])
    // And the other way round, with call options (the general path) this time.
    const before = heardA.length
    for (let i = 0; i < 40; i++) {
      await b.consume(`b${i}`, { cost: 1 })
      await b.consume(`b${i}`, { cost: 1 })
    }
    expect(heardB.length).toBeGreaterThan(0)
    expect(heardA.length).toBe(before)
  })

  it('a limiter created later does not take the events of an earlier one', () => {
    const store = new MemoryStore({ maxKeys: 4 })
    const first = createLimiter({ store, policies, now })
    const heard: unknown[] = []
    first.on('evicted', (e) => heard.push(e))
    createLimiter({ store, policies: [tokenBucket({ limit: 5, window: '1m' })], now, onStoreError: 'deny' })
    for (let i = 0; i < 20; i++) {
      first.decide(`k${i}`)
      first.decide(`k${i}`)
    }
    expect(heard.length).toBeGreaterThan(0)
  })

  it('a closed limiter hears nothing more', () => {
    const store = new MemoryStore({ maxKeys: 4 })
    const a = createLimiter({ store, policies, now })
    const b = createLimiter({ store, policies, now })
    const heardA: unknown[] = []
    a.on('evicted', (e) => heardA.push(e))
    void a.close()
    for (let i = 0; i < 20; i++) {
      b.decide(`k${i}`)
      b.decide(`k${i}`)
    }
    expect(heardA).toEqual([])
  })
})

/** An asynchronous store that reports per-call events through `request.events`, and store-wide ones through `attach`. */
function eventfulStore() {
  const attached: StoreEvents[] = []
  const answer = async (request: StoreRequest) => {
    await Promise.resolve()
    request.events?.evicted?.({ key: request.keys[0], blockedUntil: 42 })
    return { allowed: true, now: request.now, results: [0, request.now + 1000, 0] }
  }
  const store: Store = {
    consume: answer,
    peek: answer,
    refund: answer,
    reset: () => {},
    close: () => {},
    attach: (events) => {
      attached.push(events)
    },
  }
  return { store, attached }
}

describe('a shared custom store', () => {
  it('is attached once, and reports what a call caused to the limiter that made the call', async () => {
    const { store, attached } = eventfulStore()
    const a = createLimiter({ store, policies })
    const b = createLimiter({ store, policies })
    expect(attached).toHaveLength(1)
    const heardA: string[] = []
    const heardB: string[] = []
    a.on('evicted', (e) => heardA.push(e.key))
    b.on('evicted', (e) => heardB.push(e.key))
    await a.consume('from-a')
    await b.consume('from-b')
    expect(heardA).toEqual(['from-a'])
    expect(heardB).toEqual(['from-b'])
  })

  it('store-wide events reach every limiter attached', () => {
    const { store, attached } = eventfulStore()
    const a = createLimiter({ store, policies })
    const b = createLimiter({ store, policies })
    const heard: string[] = []
    a.on('warn', (w) => heard.push(`a:${w.code}`))
    b.on('warn', (w) => heard.push(`b:${w.code}`))
    attached[0].warn?.({ code: 'RK_CONNECTION_LOST', message: 'gone' })
    expect(heard.sort()).toEqual(['a:RK_CONNECTION_LOST', 'b:RK_CONNECTION_LOST'])
  })
})

describe('Fastify: a route with limiter options of its own', () => {
  it('does not take the events of the plugin limiter it shares the store with', async () => {
    const store = new MemoryStore({ maxKeys: 8 })
    const limiter = createLimiter({ store, policies, now })
    const heard: string[] = []
    limiter.on('evicted', (e) => heard.push(e.key))
    const app = fastify()
    await app.register(fastifyRateLimit, { limiter, key: (req) => String(req.headers['x-user']) })
    // This route gets a limiter of its own, on the plugin limiter's store.
    app.get('/login', { config: { rateLimit: { onStoreError: 'deny' } } }, async () => 'login')
    app.get('/', async () => 'ok')
    await app.ready()
    for (let i = 0; i < 30; i++) {
      for (let j = 0; j < 2; j++) await app.inject({ method: 'GET', url: '/', headers: { 'x-user': `u${i}` } })
    }
    expect(heard.length).toBeGreaterThan(0)
    await app.close()
  })
})
