/**
 * A mixed-priority load past the fleet's capacity, driven through a provider plan on any store:
 * payments and logins (critical), reads (normal) and exports (background) from many keys, each
 * well within its own limits, together offering ~6x what the fleet budget admits.
 */
import { apiKey } from '../../src/http/keys.js'
import { isShedding } from '../../src/http/shedding.js'
import { createLimiter, type Policy, type Store, tokenBucket } from '../../src/index.js'
import { type ProviderPlan, providerPlan } from '../../src/provider/index.js'
import { bearer, decide, request } from './helpers.js'

export const T0 = 1_782_192_000_000

/** The plan: generous per-key buckets, a fleet budget with the default shares (1 / 0.8 / 0.5). */
export function sheddingPlan(budget: Policy): ProviderPlan {
  const perKey = (name: string) => [tokenBucket({ name, limit: 10_000, window: '1m' })]
  return providerPlan({
    key: apiKey({ bearer: true }),
    classes: { routes: { 'POST /v1/payments': 'payments', 'POST /auth/token': 'auth', 'GET /v1/exports': 'export' } },
    limits: { policies: perKey('per-key'), classes: { auth: perKey('logins'), export: perKey('exports') } },
    shedding: {
      budget,
      classes: { auth: 'critical', payments: 'critical', read: 'normal', write: 'normal', delete: 'normal', export: 'background' },
    },
  })
}

const MIX = [
  { route: 'POST /v1/payments', priority: 'critical', perTick: 3 },
  { route: 'POST /auth/token', priority: 'critical', perTick: 2 },
  { route: 'GET /v1/runs', priority: 'normal', perTick: 30 },
  { route: 'GET /v1/exports', priority: 'background', perTick: 25 },
] as const

export interface LoadResult {
  /** Per priority, after the first second (the warm-up that spends the initial burst): admitted and shed. */
  readonly served: Record<string, { admitted: number; shed: number; limited: number }>
}

/**
 * Ten ticks of 100 ms per second for `seconds`: each tick offers 5 critical, 30 normal and 25
 * background requests, interleaved, from 20 keys, on a clock the store is told (`clock: 'caller'`).
 */
export async function driveLoad(store: Store, budget: Policy, seconds = 3): Promise<LoadResult> {
  let now = T0
  const limiter = createLimiter({ store, now: () => now, policies: [tokenBucket({ limit: 1, window: '1s' })], onStoreError: 'deny' })
  const plan = sheddingPlan(budget)
  const served: LoadResult['served'] = {}
  for (const m of MIX) served[m.priority] = { admitted: 0, shed: 0, limited: 0 }
  let seed = 7
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed / 2_147_483_648
  }
  for (let tick = 0; tick < seconds * 10; tick++) {
    const batch: (typeof MIX)[number][] = []
    for (const m of MIX) for (let i = 0; i < m.perTick; i++) batch.push(m)
    // A deterministic shuffle: priorities arrive interleaved, not in blocks.
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[batch[i], batch[j]] = [batch[j], batch[i]]
    }
    for (const [i, m] of batch.entries()) {
      const [method, route] = m.route.split(' ')
      const { decision } = await decide(limiter, plan, request(method, route, { headers: bearer(`sk_${i % 20}`) }))
      if (tick < 10) continue
      const counts = served[m.priority]
      if (decision.allowed) counts.admitted++
      else if (isShedding(decision)) counts.shed++
      else counts.limited++
    }
    now += 100
  }
  await limiter.close()
  return { served }
}

/** The fleet budget of the load: 100 requests per second, a burst of 100. */
export const fleetRate = () => tokenBucket({ name: 'fleet', limit: 100, window: '1s' })
