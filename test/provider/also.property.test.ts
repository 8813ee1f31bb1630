/**
 * `also`: a class's stricter limits come on top of the tier's, all or nothing. Whatever the mix
 * of classes and timing, no class ever gets more than the tier allows, no stricter class more
 * than its own bucket, and a refused request charges nothing anywhere.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createLimiter, MemoryStore, type Policy, tokenBucket } from '../../src/index.js'
import { providerPlan } from '../../src/provider/index.js'
import { decide, request } from './helpers.js'

const T0 = 1_770_638_400_000
const tier = tokenBucket({ name: 'per-second', limit: 5, window: '1s', burst: 8 })
const stricter = {
  'auth-token': [tokenBucket({ name: 'auth-token', limit: 2, window: '1s', burst: 3 })],
  'auth-refresh': [tokenBucket({ name: 'auth-refresh', limit: 2, window: '1s', burst: 3 })],
}
const ROUTES = { read: '/api/listing/:id', 'auth-token': '/auth/token', 'auth-refresh': '/auth/refresh' } as const
type Cls = keyof typeof ROUTES

/** Most admissions a token bucket allows within a span of `ms`: the burst, plus what refills. */
const bound = (p: Policy, ms: number) => p.burst + Math.floor((ms * p.limit) / p.windowMs)

describe('providerPlan also: stricter limits on top of the tier', () => {
  it('never more than the tier or the stricter bucket allows, and refusals charge nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            cls: fc.constantFrom<Cls>('read', 'auth-token', 'auth-refresh'),
            dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 400 })),
          }),
          {
            minLength: 1,
            maxLength: 80,
          },
        ),
        async (steps) => {
          let t = T0
          const limiter = createLimiter({ store: new MemoryStore(), now: () => t, policies: [tier] })
          const plan = providerPlan({
            classes: { routes: { 'POST /auth/token': 'auth-token', 'POST /auth/refresh': 'auth-refresh' } },
            limits: { policies: [tier], also: stricter },
          })
          const admitted: Array<{ t: number; cls: Cls }> = []
          for (const step of steps) {
            t += step.dt
            const method = step.cls === 'read' ? 'GET' : 'POST'
            const req = request(method, ROUTES[step.cls])
            const planned = await plan(req)
            const policies = planned.policies ?? []
            // Each policy on its own, before: the request passes if and only if every one would.
            const each = await Promise.all(policies.map((p) => limiter.peek(planned.key, { policies: [p] })))
            const { decision } = await decide(limiter, plan, req)
            expect(decision.allowed).toBe(each.every((d) => d.remaining >= 1))
            if (decision.allowed) admitted.push({ t, cls: step.cls })
            else {
              const after = await Promise.all(policies.map((p) => limiter.peek(planned.key, { policies: [p] })))
              expect(after.map((d) => d.remaining)).toEqual(each.map((d) => d.remaining))
            }
          }
          // Over every span: the tier bounds all classes together; each stricter bucket its own class.
          for (let i = 0; i < admitted.length; i++) {
            for (let j = i; j < admitted.length; j++) {
              const span = admitted[j].t - admitted[i].t
              const inSpan = admitted.slice(i, j + 1)
              expect(inSpan.length).toBeLessThanOrEqual(bound(tier, span))
              for (const cls of ['auth-token', 'auth-refresh'] as const) {
                const n = inSpan.filter((a) => a.cls === cls).length
                expect(n).toBeLessThanOrEqual(bound(stricter[cls][0], span))
              }
            }
          }
        },
      ),
      { numRuns: 60 },
    )
  })
})
