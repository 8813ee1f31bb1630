import { describe, expect, it, vi } from 'vitest'
import { cachedLookup, type ProviderRequestInfo, tierByPrefix } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'

const req: ProviderRequestInfo = { method: 'GET', route: '/', path: '/', ip: '127.0.0.1', headers: { get: () => undefined } }

function manualTimers() {
  const pending: Array<{ fn: () => void; ms: number; cancelled: boolean }> = []
  return {
    pending,
    setTimer: (fn: () => void, ms: number) => {
      const t = { fn, ms, cancelled: false }
      pending.push(t)
      return () => {
        t.cancelled = true
      }
    },
    fireAll: () => {
      for (const t of pending) if (!t.cancelled) t.fn()
    },
  }
}

describe('cachedLookup', () => {
  it('answers synchronously on a hit, and shares one call between concurrent misses', async () => {
    const lookup = vi.fn(async (key: string) => (key.startsWith('a') ? 'growth' : 'free'))
    const timers = manualTimers()
    const tierOf = cachedLookup(lookup, { setTimer: timers.setTimer })
    const first = tierOf('acct_1', req)
    const second = tierOf('acct_1', req)
    expect(first).toBeInstanceOf(Promise)
    expect(second).toBe(first)
    expect(await first).toBe('growth')
    expect(lookup).toHaveBeenCalledTimes(1)
    expect(tierOf('acct_1', req)).toBe('growth')
    expect(lookup).toHaveBeenCalledTimes(1)
    expect(timers.pending.every((t) => t.cancelled)).toBe(true)
    expect(tierOf.size).toBe(1)
  })

  it('forgets answers after ttl (injected clock) and on clear()', async () => {
    const c = clock(1_000)
    let tier = 'free'
    const tierOf = cachedLookup((_key) => tier, { ttl: '1m', now: c.now })
    expect(tierOf('k', req)).toBe('free')
    tier = 'growth'
    c.advance(59_000)
    expect(tierOf('k', req)).toBe('free')
    c.advance(2_000)
    expect(tierOf('k', req)).toBe('growth')
    tier = 'enterprise'
    tierOf.clear('k')
    expect(tierOf('k', req)).toBe('enterprise')
    tierOf.clear()
    expect(tierOf.size).toBe(0)
  })

  it('is bounded by max', () => {
    const teamOf = cachedLookup((key) => `team-of-${key}`, { max: 3 })
    for (let i = 0; i < 10; i++) teamOf(`k${i}`, req)
    expect(teamOf.size).toBe(3)
  })

  it('caches "none" (undefined) too', () => {
    const lookup = vi.fn(() => undefined)
    const teamOf = cachedLookup(lookup)
    expect(teamOf('solo', req)).toBeUndefined()
    expect(teamOf('solo', req)).toBeUndefined()
    expect(lookup).toHaveBeenCalledTimes(1)
  })

  it('a rejected lookup fails with ERR_RK_LOOKUP (cause kept) and is not cached', async () => {
    const boom = new Error('db down')
    const lookup = vi.fn(async () => {
      throw boom
    })
    const tierOf = cachedLookup(lookup)
    await expect(tierOf('k', req)).rejects.toMatchObject({ code: 'ERR_RK_LOOKUP', cause: boom })
    await expect(tierOf('k', req)).rejects.toMatchObject({ code: 'ERR_RK_LOOKUP' })
    expect(lookup).toHaveBeenCalledTimes(2)
  })

  it('a lookup that throws synchronously fails the same way', () => {
    const tierOf = cachedLookup(() => {
      throw new Error('bad')
    })
    expect(() => tierOf('k', req)).toThrow(expect.objectContaining({ code: 'ERR_RK_LOOKUP' }))
  })

  it('uses the fallback on failure (not cached) and reports every failure', async () => {
    const errors: unknown[] = []
    let fail = true
    const tierOf = cachedLookup(
      async () => {
        if (fail) throw new Error('db down')
        return 'growth'
      },
      { fallback: 'free', onError: (e) => errors.push(e) },
    )
    expect(await tierOf('k', req)).toBe('free')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ code: 'ERR_RK_LOOKUP' })
    fail = false
    expect(await tierOf('k', req)).toBe('growth')
  })

  it('a lookup that never settles times out instead of hanging the request', async () => {
    const timers = manualTimers()
    const tierOf = cachedLookup(() => new Promise<string>(() => {}), { timeout: '250ms', setTimer: timers.setTimer })
    const pending = tierOf('k', req)
    expect(timers.pending[0].ms).toBe(250)
    timers.fireAll()
    await expect(pending).rejects.toMatchObject({ code: 'ERR_RK_LOOKUP', message: expect.stringContaining('250 ms') })
  })

  it('the real timer also fires (unref’d, so it never holds the process)', async () => {
    const tierOf = cachedLookup(() => new Promise<string>(() => {}), { timeout: 5 })
    await expect(tierOf('k', req)).rejects.toMatchObject({ code: 'ERR_RK_LOOKUP' })
  })

  it('rejects unusable answers', async () => {
    const tierOf = cachedLookup(async () => 42 as unknown as string)
    await expect(tierOf('k', req)).rejects.toMatchObject({ code: 'ERR_RK_LOOKUP' })
    const empty = cachedLookup(() => '')
    expect(() => empty('k', req)).toThrow(expect.objectContaining({ code: 'ERR_RK_LOOKUP' }))
  })

  it('validates its options', () => {
    expect(() => cachedLookup('x' as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION' }))
    expect(() => cachedLookup(() => 'a', { max: 0 })).toThrow(/"max" must be an integer/)
    expect(() => cachedLookup(() => 'a', { ttl: '1 fortnight' as never })).toThrow(/"ttl"/)
    expect(() => cachedLookup(() => 'a', { timeout: -1 })).toThrow(/"timeout"/)
    expect(() => cachedLookup(() => 'a', { fallback: '' })).toThrow(/"fallback"/)
    expect(() => cachedLookup(() => 'a', { ttl: '1m', maxAge: 5 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }),
    )
  })
})

describe('tierByPrefix', () => {
  const tierOf = tierByPrefix({ pk_: 'public_key', sk_: 'secret_key', sk_test_: 'test_key' }, { otherwise: 'anonymous' })

  it('reads skakio tiers from the key prefix, past a key: kind prefix; longest prefix wins', () => {
    expect(tierOf('pk_live_123', req)).toBe('public_key')
    expect(tierOf('key:sk_live_123', req)).toBe('secret_key')
    expect(tierOf('key:sk_test_123', req)).toBe('test_key')
    expect(tierOf('ip:203.0.113.7', req)).toBe('anonymous')
  })

  it('without `otherwise`, an unknown key fails clearly (and the key is not echoed)', () => {
    const strict = tierByPrefix({ pk_: 'public_key' })
    try {
      strict('key:zz_secret_value', req)
      expect.unreachable()
    } catch (error) {
      expect(error).toMatchObject({ code: 'ERR_RK_LOOKUP' })
      expect(String((error as Error).message)).not.toContain('zz_secret_value')
    }
  })

  it('validates its options', () => {
    expect(() => tierByPrefix({})).toThrow(/at least one prefix/)
    expect(() => tierByPrefix({ '': 'x' })).toThrow(/empty prefix/)
    expect(() => tierByPrefix({ pk_: '' })).toThrow(/"prefixes.pk_"/)
    expect(() => tierByPrefix({ pk_: 'x' }, { otherwise: 3 as never })).toThrow(/"otherwise"/)
    expect(() => tierByPrefix({ pk_: 'x' }, { default: 'x' } as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }))
  })
})
