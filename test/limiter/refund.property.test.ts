// A refund of a decision gives back exactly what that decision charged, once, whatever options
// come with it (a peek's: nothing): random decisions and peeks on two keys, per-call policies and a team layer, refunded with
// their own or someone else's key, cost, at, policies and layers. Every refund the limiter accepts
// is held to a plain model (the decision's own checks, its cost or the part asked for, once);
// every other is refused. At the end each (policy, subject) holds exactly what the model says.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createLimiter, type Decision, fixedWindow, type Layer, type Policy } from '../../src/index.js'

const T0 = Date.UTC(2026, 0, 1)
const LIMIT = 50
const base = fixedWindow({ name: 'base', limit: LIMIT, window: '1h' })
const extra = fixedWindow({ name: 'extra', limit: LIMIT, window: '1h' })
const teamPolicy = fixedWindow({ name: 'team', limit: LIMIT, window: '1h' })
const team: Layer[] = [{ name: 'team', key: 'team:t', policies: [teamPolicy] }]
const KEYS = ['a', 'b']

/** The ways a request is decided: the limiter's policy, another list, with the team layer. */
const VARIANTS: { policies?: Policy[]; layers?: Layer[] }[] = [
  {},
  { policies: [extra] },
  { layers: team },
  { policies: [extra], layers: team },
]

/** The (policy, subject) pairs a variant charges for `key`. */
function checksOf(variant: number, key: string): string[] {
  const v = VARIANTS[variant]
  const own = (v.policies ?? [base]).map((p) => `${p.name}@${key}`)
  return v.layers === undefined ? own : [...own, 'team@team:t']
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('consume' as const), key: fc.nat(1), variant: fc.nat(3), cost: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('peek' as const), key: fc.nat(1), variant: fc.nat(3), cost: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    kind: fc.constant('refund' as const),
    pick: fc.nat(),
    otherKey: fc.boolean(),
    cost: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
    at: fc.option(fc.constantFrom('own', 'other'), { nil: undefined }),
    lists: fc.option(fc.nat(3), { nil: undefined }),
  }),
)

describe('refund of a decision (property)', () => {
  it('gives back exactly what the decision charged, once; anything else is refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const limiter = createLimiter({ now: () => T0, policies: [base] })
        const model = new Map<string, number>()
        const add = (check: string, n: number) => model.set(check, (model.get(check) ?? 0) + n)
        const made: { d: Decision; variant: number; refunded: boolean; charged: boolean }[] = []
        for (const o of ops) {
          if (o.kind === 'consume') {
            const key = KEYS[o.key]
            const d = await limiter.consume(key, { cost: o.cost, ...VARIANTS[o.variant] })
            if (d.allowed) for (const check of checksOf(o.variant, key)) add(check, o.cost)
            made.push({ d, variant: o.variant, refunded: false, charged: d.allowed })
            continue
          }
          if (o.kind === 'peek') {
            const d = await limiter.peek(KEYS[o.key], { cost: o.cost, ...VARIANTS[o.variant] })
            made.push({ d, variant: o.variant, refunded: false, charged: false })
            continue
          }
          if (made.length === 0) continue
          const m = made[o.pick % made.length]
          const key = o.otherKey ? KEYS.find((k) => k !== m.d.key) : m.d.key
          const options = {
            decision: m.d,
            ...(o.cost === undefined ? {} : { cost: o.cost }),
            ...(o.at === undefined ? {} : { at: o.at === 'own' ? m.d.at : m.d.at + 1 }),
            ...(o.lists === undefined ? {} : VARIANTS[o.lists]),
          }
          let accepted = true
          try {
            await limiter.refund(key as string, options)
          } catch {
            accepted = false
          }
          if (!accepted || !m.charged || m.refunded) continue
          m.refunded = true
          for (const check of checksOf(m.variant, m.d.key)) add(check, -(o.cost ?? m.d.cost))
        }
        for (const key of KEYS) {
          for (const variant of [1, 3]) {
            const d = await limiter.peek(key, VARIANTS[variant])
            for (const p of d.policies) {
              const subject = p.layer === undefined ? key : 'team:t'
              expect(p.remaining, `${p.name}@${subject}`).toBe(LIMIT - (model.get(`${p.name}@${subject}`) ?? 0))
            }
          }
          expect((await limiter.peek(key)).remaining, `base@${key}`).toBe(LIMIT - (model.get(`base@${key}`) ?? 0))
        }
      }),
      { numRuns: 800 },
    )
  })
})
