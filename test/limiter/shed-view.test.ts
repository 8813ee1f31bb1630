/**
 * The shedding view of a policy (`shareOf`): the base's state and identity, a capacity cut to
 * `floor(share × capacity)`, and the base's arithmetic otherwise — checked step by step against
 * the base policy on the same states.
 */
import { describe, expect, it } from 'vitest'
import { concurrency, fixedWindow, slidingWindow, tokenBucket } from '../../src/index.js'
import { shareOf } from '../../src/limiter/algorithms/shed-view.js'
import { newOutcome, type Policy, type PolicyState } from '../../src/limiter/policy.js'

const T0 = 1_782_192_000_000
const view = (base: Policy, share: number) => shareOf(base, share, 'test()', 'share')

/** Charges `n` cost-1 requests through `policy` from `state`, returning the state after. */
function fill(policy: Policy, state: PolicyState | undefined, n: number, now: number): PolicyState | undefined {
  const out = newOutcome()
  for (let i = 0; i < n; i++) {
    policy.step(state, 1, now, out, i)
    expect(out.allowed).toBe(true)
    state = out.state
  }
  return state
}

function admits(policy: Policy, state: PolicyState | undefined, now: number, lease = 1_000): ReturnType<typeof newOutcome> {
  const out = newOutcome()
  policy.step(state, 1, now, out, lease)
  return out
}

describe('shareOf: a view of a policy for one priority', () => {
  it('keeps the base name and id (so every store keeps one state) and cuts only the capacity', () => {
    const base = tokenBucket({ name: 'fleet', limit: 100, window: '1s', burst: 200 })
    const half = view(base, 0.5)
    expect(half.id).toBe(base.id)
    expect(half.name).toBe(base.name)
    expect(half.burst).toBe(100)
    expect(half.limit).toBe(100)
    expect(half.params).toEqual({ ...base.params, burst: 100 })
    expect(view(base, 1)).toBe(base)
  })

  it('token bucket: admits while tat + cost·T − now ≤ share·burst·T; the base admits on to its burst', () => {
    const base = tokenBucket({ name: 'fleet', limit: 10, window: '1s' })
    const bg = view(base, 0.5)
    const normal = view(base, 0.8)
    const state = fill(base, undefined, 5, T0)
    const denied = admits(bg, state, T0)
    expect(denied).toMatchObject({ allowed: false, never: false, remaining: 0, retryAfterMs: 100 })
    expect(admits(normal, state, T0)).toMatchObject({ allowed: true, remaining: 2 })
    expect(admits(base, state, T0)).toMatchObject({ allowed: true, remaining: 4 })
    // One token refilled (100 ms): background fits again, exactly when its retry said.
    expect(admits(bg, state, T0 + 99).allowed).toBe(false)
    expect(admits(bg, state, T0 + 100)).toMatchObject({ allowed: true, remaining: 0 })
    // A view's charge is the base's charge: the same state after.
    const a = newOutcome()
    const b = newOutcome()
    bg.step(state, 1, T0 + 100, a)
    base.step(state, 1, T0 + 100, b)
    expect(a.state).toBe(b.state)
    expect(a.resetAt).toBe(b.resetAt)
  })

  it('fixed window: admits while count + cost ≤ floor(share·limit), same window edges', () => {
    const base = fixedWindow({ name: 'fleet', limit: 10, window: '1m' })
    const bg = view(base, 0.55)
    expect(bg.limit).toBe(5)
    const state = fill(base, undefined, 5, T0)
    expect(admits(bg, state, T0)).toMatchObject({ allowed: false, retryAfterMs: base.windowMs - (T0 % base.windowMs) })
    expect(admits(base, state, T0).allowed).toBe(true)
    const month = fixedWindow({ name: 'quota', limit: 1000, window: 'month' })
    expect(view(month, 0.5).params).toEqual({ ...month.params, limit: 500 })
    expect(view(month, 0.5).id).toBe(month.id)
  })

  it('sliding window: the same sub-windows (precision recovered from the base), a cut limit', () => {
    const base = slidingWindow({ name: 'fleet', limit: 20, window: '10s', precision: 7 })
    const bg = view(base, 0.5)
    expect(bg.params).toEqual({ ...base.params, limit: 10 })
    let state = fill(base, undefined, 6, T0)
    state = fill(base, state, 4, T0 + 3_000)
    expect(admits(bg, state, T0 + 3_000).allowed).toBe(false)
    expect(admits(base, state, T0 + 3_000).allowed).toBe(true)
    // The first six leave the window: background is admitted again, as the base counts it.
    const later = admits(bg, state, T0 + 12_000)
    expect(later.allowed).toBe(true)
    expect(later.remaining).toBe(admits(base, state, T0 + 12_000).remaining - 10)
  })

  it('concurrency: admits while leases held < floor(share·limit); releasing through the view frees the base', () => {
    const base = concurrency({ name: 'fleet', limit: 4, leaseMs: '30s' })
    const bg = view(base, 0.5)
    expect(bg.params).toEqual({ ...base.params, limit: 2 })
    const state = fill(base, undefined, 2, T0)
    expect(admits(bg, state, T0, 7).allowed).toBe(false)
    expect(admits(base, state, T0, 7).allowed).toBe(true)
    const out = newOutcome()
    bg.refund(state, 1, T0, T0 + 1, out, 0)
    expect(admits(bg, out.state, T0 + 1, 7).allowed).toBe(true)
  })

  it('refuses a share outside (0, 1], and a share that leaves nothing of the budget', () => {
    const base = tokenBucket({ name: 'fleet', limit: 3, window: '1s' })
    for (const bad of [0, -0.5, 1.5, Number.NaN, '0.5']) {
      expect(() => shareOf(base, bad as number, 'test()', 'priorities.bg')).toThrow(
        expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'priorities.bg' }),
      )
    }
    expect(() => view(base, 0.3)).toThrow(/rounds down to 0/)
    // A budget of 0 admits nobody whatever the priority: the views are the base.
    const none = fixedWindow({ name: 'off', limit: 0, window: '1s' })
    expect(view(none, 0.1)).toBe(none)
  })
})
