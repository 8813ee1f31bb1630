// `Store.queueRelease` seen from the limiter, on a store that queues its releases (a MemoryStore
// behind a wrapper that answers later and sends its releases a microtask later): which releases
// go there, what a shared promise means to `limiter.release()`, and how each kind of failure is
// told (a throw at once, `failed` later, a ConfigurationError through `failed`).

import { describe, expect, it } from 'vitest'
import {
  ConfigurationError,
  concurrency,
  createLimiter,
  MemoryStore,
  type Policy,
  type Store,
  StoreError,
  type StoreErrorEvent,
  type StoreRefundRequest,
} from '../../src/index.js'

interface Queued {
  request: StoreRefundRequest
  failed: (error: unknown) => void
}

/** A store answering later, whose releases are queued and sent together, each group with one promise. */
function queueingStore(options: { failWith?: unknown; throwWith?: unknown; consumeFails?: boolean } = {}) {
  const inner = new MemoryStore()
  const log = { queued: 0, refunds: 0, groups: 0 }
  let queued: Queued[] = []
  let group: Promise<void> | undefined
  const flush = async (): Promise<void> => {
    const batch = queued
    queued = []
    group = undefined
    for (const { request, failed } of batch) {
      if (options.failWith !== undefined) failed(options.failWith)
      else inner.refund(request)
    }
  }
  const store: Store = {
    // A deadline of its own (its releases go at once): the limiter queues releases only on such a store.
    timeoutMs: 1000,
    consume: async (request) => {
      if (options.consumeFails) throw new StoreError('ERR_RK_STORE', 'down')
      return inner.consume(request)
    },
    peek: async (request) => inner.peek(request),
    refund: async (request) => {
      log.refunds++
      return inner.refund(request)
    },
    reset: async (request) => inner.reset(request),
    close: () => inner.close(),
    queueRelease(subject: string, policies: readonly Policy[], lease: number, chargedAt: number, now: number, failed) {
      if (options.throwWith !== undefined) throw options.throwWith
      log.queued++
      queued.push({ request: { keys: policies.map(() => subject), policies, cost: 1, now, tag: subject, lease, chargedAt }, failed })
      if (group === undefined) {
        log.groups++
        group = Promise.resolve().then(flush)
      }
      return group
    },
  }
  return { store, log, options }
}

const policies = [concurrency({ name: 'cc', limit: 2, leaseMs: '1m' })]

describe('limiter.release() on a store that queues releases', () => {
  it('queues the release of a lease in its own policies: releases made together share the store’s promise', async () => {
    const { store, log } = queueingStore()
    const limiter = createLimiter({ store, policies })
    const a = await limiter.consume('k')
    const b = await limiter.consume('k')
    expect((await limiter.consume('k')).allowed).toBe(false)
    const [pa, pb] = [limiter.release(a), limiter.release(b)]
    expect(pa).toBe(pb)
    await pa
    expect(log).toEqual({ queued: 2, refunds: 0, groups: 1 })
    expect((await limiter.peek('k')).remaining).toBe(2)
    // Released once: a second release is not queued.
    await limiter.release(a)
    expect(log.queued).toBe(2)
  })

  it('a failure passed to failed is a store-error for the decision’s key; the release resolves', async () => {
    const { store } = queueingStore({ failWith: new StoreError('ERR_RK_STORE', 'the release failed') })
    const limiter = createLimiter({ store, policies })
    const errors: StoreErrorEvent[] = []
    limiter.on('store-error', (event) => errors.push(event))
    limiter.on('warn', () => {})
    const d = await limiter.consume('k')
    await expect(limiter.release(d)).resolves.toBeUndefined()
    expect(errors.map((e) => e.key)).toEqual(['k'])
    expect((errors[0].error as Error).message).toContain('the release failed')
  })

  it('a failure thrown at once is a store-error too, and the release resolves', async () => {
    const { store } = queueingStore({ throwWith: new StoreError('ERR_RK_STORE', 'not connected') })
    const limiter = createLimiter({ store, policies })
    const errors: StoreErrorEvent[] = []
    limiter.on('store-error', (event) => errors.push(event))
    limiter.on('warn', () => {})
    const d = await limiter.consume('k')
    await expect(limiter.release(d)).resolves.toBeUndefined()
    expect(errors.map((e) => e.key)).toEqual(['k'])
  })

  it('a ConfigurationError passed to failed (nobody awaits it) is a RK_RELEASE_FAILED warning, not a throw inside the store', async () => {
    const { store } = queueingStore({
      failWith: new ConfigurationError('ERR_RK_INVALID_ARGUMENT', 'MyStore', 'lease', 'must be a number', 'x'),
    })
    const limiter = createLimiter({ store, policies })
    const warnings: string[] = []
    limiter.on('warn', (info) => warnings.push(info.code))
    const d = await limiter.consume('k')
    await expect(limiter.release(d)).resolves.toBeUndefined()
    expect(warnings).toEqual(['RK_RELEASE_FAILED'])
  })

  it('a store whose queueRelease rejects (against its contract) never makes release() reject: a warning, once per promise', async () => {
    const { store } = queueingStore()
    let calls = 0
    const rejected = Promise.reject(new Error('broken store'))
    rejected.catch(() => {})
    store.queueRelease = () => {
      calls++
      return rejected
    }
    const limiter = createLimiter({ store, policies })
    const warnings: string[] = []
    limiter.on('warn', (info) => warnings.push(`${info.code}: ${info.message}`))
    const [a, b] = [await limiter.consume('k'), await limiter.consume('k')]
    await expect(Promise.all([limiter.release(a), limiter.release(b)])).resolves.toEqual([undefined, undefined])
    expect(calls).toBe(2)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/^RK_RELEASE_FAILED: .*broken store/)
  })

  it('a store whose queueRelease returns no promise still gives release() one', async () => {
    const { store } = queueingStore()
    store.queueRelease = (() => undefined) as unknown as Store['queueRelease']
    const limiter = createLimiter({ store, policies })
    const d = await limiter.consume('k')
    const done = limiter.release(d)
    expect(done).toBeInstanceOf(Promise)
    await expect(done).resolves.toBeUndefined()
  })

  it('while the store is in an outage a release goes through refund (whose answer may end the outage)', async () => {
    const made = queueingStore()
    const limiter = createLimiter({ store: made.store, policies, onStoreError: 'deny' })
    const warnings: string[] = []
    limiter.on('warn', (info) => warnings.push(info.code))
    const d = await limiter.consume('k')
    made.options.consumeFails = true
    expect((await limiter.consume('k')).reason).toBe('store-error')
    made.options.consumeFails = false
    await limiter.release(d)
    expect(made.log).toEqual({ queued: 0, refunds: 1, groups: 0 })
    expect(warnings).toEqual(['RK_STORE_OUTAGE'])
    expect((await limiter.peek('k')).remaining).toBe(2)
  })

  it('with a store-call listener a release goes through refund, and is timed', async () => {
    const { store, log } = queueingStore()
    const limiter = createLimiter({ store, policies })
    const modes: string[] = []
    limiter.on('store-call', (event) => modes.push(event.mode))
    const d = await limiter.consume('k')
    await limiter.release(d)
    expect(log.queued).toBe(0)
    expect(modes).toEqual(['consume', 'refund'])
  })
})
