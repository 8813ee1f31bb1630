// A lease asked again (a retried store call) on a clock that had gone back reported its old, later
// deadline as the time the subject is back to full allowance, where the Redis script (a sorted set
// rewritten with the new deadline) reports the new one: the twins disagreed.
import { describe, expect, it } from 'vitest'
import { concurrency } from '../../src/index.js'
import { newOutcome } from '../../src/limiter/policy.js'

describe('a renewed lease on a clock gone back', () => {
  it('resets at the latest deadline after the renewal', () => {
    const policy = concurrency({ name: 'in-flight', limit: 2, leaseMs: 1000 })
    const first = newOutcome()
    policy.step(undefined, 1, 10_000, first, 7)
    expect(first.resetAt).toBe(11_000)
    const again = newOutcome()
    policy.step(first.state, 1, 9_500, again, 7)
    expect(again.allowed).toBe(true)
    expect(again.resetAt).toBe(10_500)
    expect(again.ttlMs).toBe(1000)
  })
})
