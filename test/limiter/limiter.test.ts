import { describe, expect, it, vi } from 'vitest'
import {
  ConfigurationError,
  createLimiter,
  type Decision,
  fixedWindow,
  MemoryStore,
  type RateKeeperError,
  type Store,
  StoreError,
  type StoreRequest,
  slidingWindow,
  tokenBucket,
} from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { throwingStore } from '../helpers/stores.js'

const perMinute = tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 })
const perDay = fixedWindow({ name: 'per-day', limit: 10_000, window: '1d' })

function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return (error as RateKeeperError).code
  }
  return undefined
}

function failingStore(error: unknown = new StoreError('ERR_RK_STORE', 'down')): Store {
  const fail = () => Promise.reject(error)
  return { consume: fail, peek: fail, refund: fail, reset: fail, close: () => {} }
}

describe('policy options are validated at construction', () => {
  const cases: [string, () => unknown, string][] = [
    ['NaN limit', () => tokenBucket({ limit: Number.NaN, window: '1m' }), 'ERR_RK_INVALID_OPTION'],
    ['negative limit', () => fixedWindow({ limit: -1, window: '1m' }), 'ERR_RK_INVALID_OPTION'],
    ['fractional limit', () => slidingWindow({ limit: 1.5, window: '1m' }), 'ERR_RK_INVALID_OPTION'],
    ['Infinity limit', () => tokenBucket({ limit: Number.POSITIVE_INFINITY, window: '1m' }), 'ERR_RK_INVALID_OPTION'],
    ['string limit', () => tokenBucket({ limit: '10' as unknown as number, window: '1m' }), 'ERR_RK_INVALID_OPTION'],
    ['burst 0', () => tokenBucket({ limit: 10, window: '1m', burst: 0 }), 'ERR_RK_INVALID_OPTION'],
    ['burst with limit 0', () => tokenBucket({ limit: 0, window: '1m', burst: 5 }), 'ERR_RK_INVALID_OPTION'],
    ['unknown option', () => tokenBucket({ limit: 10, window: '1m', max: 5 } as never), 'ERR_RK_UNKNOWN_OPTION'],
    ['bad window unit', () => fixedWindow({ limit: 10, window: '1w' as never }), 'ERR_RK_INVALID_OPTION'],
    ['zero window', () => fixedWindow({ limit: 10, window: 0 }), 'ERR_RK_INVALID_OPTION'],
    ['fractional ms window', () => fixedWindow({ limit: 10, window: 1.5 }), 'ERR_RK_INVALID_OPTION'],
    ['window too long', () => fixedWindow({ limit: 10, window: '99999d' }), 'ERR_RK_INVALID_OPTION'],
    ['too long for the arithmetic', () => tokenBucket({ limit: 1, window: '3650d', burst: 1_000_000_000 }), 'ERR_RK_INVALID_OPTION'],
    ['bad name', () => tokenBucket({ name: 'a"b', limit: 1, window: '1s' }), 'ERR_RK_INVALID_OPTION'],
    ['precision 0', () => slidingWindow({ limit: 1, window: '1s', precision: 0 }), 'ERR_RK_INVALID_OPTION'],
    ['no policies', () => createLimiter({ policies: [] }), 'ERR_RK_INVALID_OPTION'],
    ['not a policy', () => createLimiter({ policies: [{} as never] }), 'ERR_RK_INVALID_OPTION'],
    ['duplicate names', () => createLimiter({ policies: [perMinute, perMinute] }), 'ERR_RK_DUPLICATE_POLICY'],
    ['unknown limiter option', () => createLimiter({ policies: [perMinute], max: 3 } as never), 'ERR_RK_UNKNOWN_OPTION'],
    ['bad onStoreError', () => createLimiter({ policies: [perMinute], onStoreError: 'open' as never }), 'ERR_RK_INVALID_OPTION'],
    ['fallback without mode', () => createLimiter({ policies: [perMinute], fallback: new MemoryStore() }), 'ERR_RK_INVALID_OPTION'],
    ['bad maxKeys', () => new MemoryStore({ maxKeys: 0 }), 'ERR_RK_INVALID_OPTION'],
  ]
  it.each(cases)('%s', (_name, fn, expected) => {
    expect(code(fn)).toBe(expected)
  })

  it('names the option and the value received', () => {
    expect(() => tokenBucket({ limit: 10, window: '1m', burst: 0 })).toThrow(
      'tokenBucket(): "burst" must be an integer from 1 to 1000000000, received 0',
    )
    expect(() => fixedWindow({ limit: 10, window: '1w' as never })).toThrow(/"window".*received "1w"/)
    const error = (() => {
      try {
        tokenBucket({ limit: -3, window: '1m' })
      } catch (e) {
        return e as ConfigurationError
      }
    })()
    expect(error).toBeInstanceOf(ConfigurationError)
    expect(error?.option).toBe('limit')
    expect(error?.received).toBe(-3)
  })

  it('rejects bad call arguments with a clear error', async () => {
    const limiter = createLimiter({ policies: [perMinute] })
    await expect(limiter.consume('k', { cost: -1 })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'cost' })
    await expect(limiter.consume('k', { cost: 0.5 })).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION' })
    await expect(limiter.consume('')).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'key' })
    await expect(limiter.consume(42 as never)).rejects.toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT' })
    await expect(limiter.consume('k', { costs: 1 } as never)).rejects.toMatchObject({ code: 'ERR_RK_UNKNOWN_OPTION' })
    expect(() => limiter.decide('k', { cost: Number.NaN })).toThrow(ConfigurationError)
  })
})

describe('createLimiter', () => {
  it('decides several policies all-or-nothing and reports each', async () => {
    const c = clock(Date.UTC(2026, 0, 1))
    const limiter = createLimiter({
      now: c.now,
      policies: [tokenBucket({ name: 'burst', limit: 10, window: '1s' }), fixedWindow({ name: 'daily', limit: 12, window: '1d' })],
    })
    for (let i = 0; i < 10; i++) await limiter.consume('k')
    const d = await limiter.consume('k')
    expect(d).toMatchObject({ allowed: false, violated: ['burst'], limit: 10, remaining: 0, retryAfterMs: 100 })
    expect(d.policies.map((p) => [p.name, p.remaining, p.violated])).toEqual([
      ['burst', 0, true],
      ['daily', 2, false],
    ])
    c.advance(1000)
    await limiter.consume('k', { cost: 2 })
    const e = await limiter.consume('k')
    // Headline: the violated policy with the longest wait.
    expect(e).toMatchObject({ allowed: false, violated: ['daily'], limit: 12 })
    // The token bucket was not charged by the denied request.
    expect(e.policies[0].remaining).toBe(8)
  })

  it('headline is the policy with the fewest remaining when allowed', async () => {
    const limiter = createLimiter({ now: () => 0, policies: [perMinute, fixedWindow({ name: 'small', limit: 3, window: '1h' })] })
    const d = await limiter.consume('k')
    expect(d).toMatchObject({ limit: 3, remaining: 2 })
  })

  it('takes other policies per call (a class or a plan) without mixing their state', async () => {
    const read = [tokenBucket({ name: 'read', limit: 5, window: '1m' })]
    const write = [tokenBucket({ name: 'write', limit: 1, window: '1m' })]
    const limiter = createLimiter({ now: () => 0, policies: read })
    expect((await limiter.consume('k', { policies: write })).allowed).toBe(true)
    expect((await limiter.consume('k', { policies: write })).allowed).toBe(false)
    expect((await limiter.consume('k')).remaining).toBe(4)
  })

  it('decides layers (key + team ceiling) all-or-nothing', async () => {
    const own = [tokenBucket({ name: 'key', limit: 3, window: '1m' })]
    const team = [tokenBucket({ name: 'team', limit: 4, window: '1m' })]
    const limiter = createLimiter({ now: () => 0, policies: own })
    const layers = [{ name: 'team', key: 'team:acme', policies: team }]
    for (let i = 0; i < 3; i++) expect((await limiter.consume('key-a', { layers })).allowed).toBe(true)
    expect((await limiter.consume('key-b', { layers })).allowed).toBe(true)
    const d = await limiter.consume('key-b', { layers })
    expect(d).toMatchObject({ allowed: false, violated: ['team'] })
    expect(d.policies.map((p) => p.layer)).toEqual([undefined, 'team'])
    // key-b's own bucket was not charged by the denied request.
    expect(d.policies[0].remaining).toBe(2)
    await expect(limiter.consume('k', { layers: [{ name: 'team', key: 't', policies: own }] })).rejects.toMatchObject({
      code: 'ERR_RK_DUPLICATE_POLICY',
    })
  })

  it('encodes keys so that different identities never collide, and hashes huge ones', async () => {
    const limiter = createLimiter({ now: () => 0, policies: [tokenBucket({ limit: 1, window: '1m' })] })
    const long = 'x'.repeat(1_000_000)
    expect((await limiter.consume(long)).allowed).toBe(true)
    expect((await limiter.consume(long)).allowed).toBe(false)
    const hashed = `#sha256:${'0'.repeat(64)}`
    expect((await limiter.consume(hashed)).allowed).toBe(true)
    expect((await limiter.consume('#a')).allowed).toBe(true)
    expect((await limiter.consume('##a')).allowed).toBe(true)
  })

  it("onStoreError 'allow' (default) admits, 'deny' denies with a 1 s retry, 'fallback' decides locally; each emits store-error", async () => {
    const events: string[] = []
    const allow = createLimiter({ store: failingStore(), policies: [perMinute] })
    allow.on('store-error', (e) => events.push(`allow:${e.action}`))
    expect(await allow.consume('k')).toMatchObject({ allowed: true, reason: 'store-error', policies: [] })

    const deny = createLimiter({ store: failingStore(), policies: [perMinute], onStoreError: 'deny' })
    deny.on('store-error', (e) => events.push(`deny:${e.action}`))
    expect(await deny.consume('k')).toMatchObject({ allowed: false, reason: 'store-error', retryAfterMs: 1000 })

    const fb = createLimiter({
      store: failingStore(),
      policies: [tokenBucket({ limit: 1, window: '1m' })],
      onStoreError: 'fallback',
      now: () => 0,
    })
    fb.on('store-error', (e) => events.push(`fallback:${e.action}`))
    expect(await fb.consume('k')).toMatchObject({ allowed: true, reason: 'ok' })
    expect(await fb.consume('k')).toMatchObject({ allowed: false, reason: 'limited' })
    expect(events).toEqual(['allow:allow', 'deny:deny', 'fallback:fallback', 'fallback:fallback'])
  })

  it('a store that throws synchronously is handled the same way', async () => {
    const store = throwingStore()
    const limiter = createLimiter({ store, policies: [perMinute] })
    expect(limiter.decide('k')).toMatchObject({ allowed: true, reason: 'store-error' })
  })

  it('emits decision, limited and near-limit events; a throwing listener does not fail the request', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const limiter = createLimiter({ now: () => 0, policies: [tokenBucket({ limit: 3, window: '1m' })], nearLimit: 1 })
    const seen: string[] = []
    limiter.on('decision', (d) => seen.push(`decision:${d.remaining}`))
    limiter.on('near-limit', (d) => seen.push(`near:${d.remaining}`))
    const off = limiter.on('limited', (d) => seen.push(`limited:${d.violated.join()}`))
    limiter.on('decision', () => {
      throw new Error('listener bug')
    })
    for (let i = 0; i < 4; i++) await limiter.consume('k')
    off()
    await limiter.consume('k')
    await limiter.peek('k')
    expect(seen).toEqual(['decision:2', 'decision:1', 'near:1', 'decision:0', 'near:0', 'decision:0', 'limited:3-per-1m', 'decision:0'])
    expect(warn).toHaveBeenCalled()
    warn.mockRestore()
  })

  it('dry run marks denials but keeps the truth in allowed', async () => {
    const limiter = createLimiter({ now: () => 0, policies: [tokenBucket({ limit: 1, window: '1m' })], dryRun: true })
    expect((await limiter.consume('k')).dryRun).toBeUndefined()
    const d = await limiter.consume('k')
    expect(d).toMatchObject({ allowed: false, dryRun: true })
  })

  it('decide() answers synchronously on the memory store', () => {
    const limiter = createLimiter({ policies: [perMinute, perDay] })
    const d = limiter.decide('k') as Decision
    expect(d.allowed).toBe(true)
    expect(typeof (d as unknown as Promise<Decision>).then).toBe('undefined')
  })

  it('wait() waits for capacity with the injected sleep, honours maxWaitMs and abort', async () => {
    const c = clock(0)
    const sleeps: number[] = []
    const sleep = async (ms: number) => {
      sleeps.push(ms)
      c.advance(ms)
    }
    const limiter = createLimiter({ now: c.now, sleep, policies: [tokenBucket({ limit: 2, window: '1s' })] })
    await limiter.wait('k')
    await limiter.wait('k')
    const d = await limiter.wait('k')
    expect(d.allowed).toBe(true)
    expect(sleeps).toEqual([500])
    await expect(limiter.wait('k', { maxWaitMs: 100 })).rejects.toMatchObject({ code: 'ERR_RK_WAIT' })
    await expect(limiter.wait('k', { cost: 3 })).rejects.toMatchObject({ code: 'ERR_RK_WAIT' })
    const ac = new AbortController()
    ac.abort(new Error('stop'))
    await expect(limiter.wait('k', { signal: ac.signal })).rejects.toThrow('stop')
  })

  it('wait() with the real timer leaves no timer behind when aborted', async () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1h' })] })
    await limiter.consume('k')
    const ac = new AbortController()
    const p = limiter.wait('k', { signal: ac.signal })
    await new Promise((r) => setImmediate(r))
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    ac.abort(new Error('cancelled'))
    await expect(p).rejects.toThrow('cancelled')
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    expect(timersAfter).toBe(timersBefore - 1)
  })

  it('close() closes the store it created; later calls reject with ERR_RK_CLOSED', async () => {
    const limiter = createLimiter({ policies: [perMinute] })
    await limiter.close()
    await expect(limiter.consume('k')).rejects.toMatchObject({ code: 'ERR_RK_CLOSED' })
    const store = new MemoryStore()
    const shared = createLimiter({ store, policies: [perMinute] })
    await shared.close()
    expect(() => store.consume({ keys: ['k'], policies: [perMinute], cost: 1, now: 0, tag: 'k' })).not.toThrow()
  })
})

describe('refund with the decision', () => {
  it('defaults cost and at to the decision and refunds the main store', async () => {
    const c = clock(Date.UTC(2026, 0, 1))
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ name: 'per-hour', limit: 10, window: '1h' })] })
    const d = await limiter.consume('k', { cost: 4 })
    c.advance(1000)
    const after = await limiter.refund('k', { decision: d })
    expect([d.remaining, after.remaining]).toEqual([6, 10])
  })

  it('rejects a decision that is not one, without quoting it', async () => {
    const limiter = createLimiter({ policies: [perMinute] })
    const error = await limiter.refund('k', { decision: 'sk_live_x' as never }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'decision', received: undefined })
    expect(String((error as Error).message)).not.toContain('sk_live_x')
  })
})

describe('the store contract', () => {
  it('a store is attached once, however many limiters use it', () => {
    const attach = vi.fn()
    const store = { ...throwingStore(), attach }
    createLimiter({ store, policies: [perMinute] })
    createLimiter({ store, policies: [perMinute], onStoreError: 'deny' })
    expect(attach).toHaveBeenCalledTimes(1)
  })

  it('every request carries the calling limiter’s events', async () => {
    const seen: unknown[] = []
    const store = {
      ...throwingStore(),
      consume: (request: StoreRequest) => {
        seen.push(request.events)
        return { allowed: true, now: request.now, results: [1, request.now, 0] }
      },
    }
    const a = createLimiter({ store, policies: [perMinute] })
    const b = createLimiter({ store, policies: [perMinute] })
    await a.consume('k')
    await b.consume('k')
    await a.consume('k', { cost: 1 })
    expect(seen[0]).toBeDefined()
    expect(seen[0]).not.toBe(seen[1])
    expect(seen[2]).toBe(seen[0])
  })
})
