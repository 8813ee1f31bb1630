import { describe, expect, it } from 'vitest'
import { countingFinish, responseCounts } from '../../src/http/count-mode.js'
import { createLimiter, type Decision, fixedWindow, type Store, tokenBucket } from '../../src/index.js'
import { providerPlan } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'
import { callOf, request } from './helpers.js'

const T0 = Date.UTC(2026, 5, 10, 12, 0, 0)

describe('responseCounts', () => {
  it('success counts < 400, failure counts >= 400, all counts all; aborted always counts', () => {
    expect(responseCounts('success', { status: 200, aborted: false })).toBe(true)
    expect(responseCounts('success', { status: 399, aborted: false })).toBe(true)
    expect(responseCounts('success', { status: 400, aborted: false })).toBe(false)
    expect(responseCounts('failure', { status: 401, aborted: false })).toBe(true)
    expect(responseCounts('failure', { status: 204, aborted: false })).toBe(false)
    expect(responseCounts('all', { status: 500, aborted: false })).toBe(true)
    expect(responseCounts('success', { status: 500, aborted: true })).toBe(true)
    expect(responseCounts('failure', { status: 200, aborted: true })).toBe(true)
  })
})

describe('countingFinish: failed logins', () => {
  const setup = () => {
    const c = clock(T0)
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })], now: c.now })
    const plan = providerPlan({
      classes: { routes: { 'POST /auth/token': 'auth' } },
      limits: {
        policies: [tokenBucket({ name: 'api', limit: 100, window: '1m' })],
        classes: { auth: [fixedWindow({ name: 'logins', limit: 5, window: '15m' })] },
      },
      countMode: { auth: 'failure' },
    })
    const login = async (status: number, aborted = false) => {
      const p = await plan(request('POST', '/auth/token'))
      const decision = await limiter.consume(p.key, callOf(p))
      await countingFinish(limiter, decision, p)?.({ status, aborted })
      return decision
    }
    return { c, limiter, plan, login }
  }

  it('successful logins are refunded; 5 failures lock the client out', async () => {
    const { login } = setup()
    for (let i = 0; i < 20; i++) expect((await login(200)).allowed).toBe(true)
    for (let i = 0; i < 5; i++) expect((await login(401)).allowed).toBe(true)
    const locked = await login(200)
    expect(locked).toMatchObject({ allowed: false, violated: ['logins'] })
  })

  it('no double counting: the charge is reserved on arrival, so in-flight requests count', async () => {
    const { limiter, plan } = setup()
    const p = await plan(request('POST', '/auth/token'))
    const inFlight: Decision[] = []
    for (let i = 0; i < 6; i++) inFlight.push(await limiter.consume(p.key, callOf(p)))
    expect(inFlight.map((d) => d.allowed)).toEqual([true, true, true, true, true, false])
    // All five succeed: every charge comes back, exactly once.
    for (const d of inFlight) {
      const finish = countingFinish(limiter, d, p)
      await finish?.({ status: 200, aborted: false })
      await finish?.({ status: 200, aborted: false })
    }
    const peek = await limiter.peek(p.key, { ...callOf(p), cost: 0 })
    expect(peek.remaining).toBe(5)
  })

  it('a client that hung up is not refunded', async () => {
    const { login, limiter, plan } = setup()
    await login(200, true)
    const p = await plan(request('POST', '/auth/token'))
    expect((await limiter.peek(p.key, { ...callOf(p), cost: 0 })).remaining).toBe(4)
  })

  it('refunds go only into the window that was charged and never above capacity', async () => {
    const { c, limiter, plan } = setup()
    const p = await plan(request('POST', '/auth/token'))
    const d = await limiter.consume(p.key, callOf(p))
    c.advance(15 * 60_000) // the next window
    const fresh = await limiter.consume(p.key, callOf(p))
    await countingFinish(limiter, d, p)?.({ status: 200, aborted: false })
    expect((await limiter.peek(p.key, { ...callOf(p), cost: 0 })).remaining).toBe(4)
    await countingFinish(limiter, fresh, p)?.({ status: 200, aborted: false })
    await countingFinish(limiter, fresh, p)?.({ status: 200, aborted: false })
    expect((await limiter.peek(p.key, { ...callOf(p), cost: 0 })).remaining).toBe(5)
  })

  it('nothing to do for denials, dry-run denials, store errors, cost 0 or mode all', async () => {
    const { limiter, plan } = setup()
    const p = await plan(request('POST', '/auth/token'))
    const denied = { ...(await limiter.peek(p.key, callOf(p))), allowed: false, reason: 'limited' } as Decision
    expect(countingFinish(limiter, denied, p)).toBeUndefined()
    expect(countingFinish(limiter, { ...denied, dryRun: true }, p)).toBeUndefined()
    const ok = await limiter.consume(p.key, callOf(p))
    expect(countingFinish(limiter, { ...ok, reason: 'store-error', policies: [] }, p)).toBeUndefined()
    expect(countingFinish(limiter, { ...ok, cost: 0 }, p)).toBeUndefined()
    expect(countingFinish(limiter, ok, { ...p, countMode: 'all' })).toBeUndefined()
    expect(countingFinish(limiter, ok, { ...p, countMode: undefined })).toBeUndefined()
  })

  it('a failing store during the refund never rejects (the limiter reports it)', async () => {
    let fail = false
    const inner = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1s' })] }).store
    const flaky: Store = {
      consume: (r) => inner.consume(r),
      peek: (r) => inner.peek(r),
      refund: (r) => (fail ? Promise.reject(new Error('redis down')) : inner.refund(r)),
      reset: (r) => inner.reset(r),
      close: () => inner.close(),
    }
    const limiter = createLimiter({ store: flaky, policies: [tokenBucket({ name: 'x', limit: 5, window: '1m' })], now: () => T0 })
    const errors: unknown[] = []
    limiter.on('store-error', (e) => errors.push(e.error))
    const d = await limiter.consume('k')
    fail = true
    await expect(countingFinish(limiter, d, { key: 'k', countMode: 'success' })?.({ status: 500, aborted: false })).resolves.toBeUndefined()
    expect(errors).toHaveLength(1)
  })
})
