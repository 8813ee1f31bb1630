import { apiKey } from '../../src/http/keys.js'
import { type ConsumeOptions, type Decision, type Limiter, tokenBucket } from '../../src/index.js'
import {
  type KeyResolver,
  type ProviderPlan,
  type ProviderRequestInfo,
  type ProviderRequestPlan,
  providerPlan,
} from '../../src/provider/index.js'

/** A request as adapters describe it. */
export function request(
  method: string,
  route: string | undefined,
  init: { path?: string; headers?: Record<string, string>; ip?: string; requestId?: string } = {},
): ProviderRequestInfo {
  const headers = new Map(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
  return {
    method,
    route,
    path: init.path ?? route ?? '/',
    ip: init.ip ?? '203.0.113.7',
    headers: { get: (name: string) => headers.get(name.toLowerCase()) },
    requestId: init.requestId,
    raw: {},
  }
}

/** The limiter call a plan asks for (what the HTTP layer does). */
export function callOf(p: ProviderRequestPlan): ConsumeOptions {
  return { cost: p.cost, policies: p.policies, layers: p.layers, tag: p.tag, tier: p.tier }
}

/** Plans and decides one request, as the HTTP layer would. */
export async function decide(
  limiter: Limiter,
  plan: ProviderPlan,
  req: ProviderRequestInfo,
): Promise<{ plan: ProviderRequestPlan; decision: Decision }> {
  const p = await plan(req)
  return { plan: p, decision: await limiter.consume(p.key, callOf(p)) }
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/**
 * The managed.dev page as a plan: per-key read 1,000/min, write 100/min, create 5/min (job
 * spawning `POST /v1/jobs`), DELETE counted as a write, and a 5,000/min team ceiling; `team`
 * tells each key's team.
 */
export function managedDevPlan(team: KeyResolver): ProviderPlan {
  return providerPlan({
    key: apiKey({ bearer: true }),
    classes: { methods: { DELETE: 'write' }, routes: { 'POST /v1/jobs': 'create' } },
    limits: {
      classes: {
        read: [tokenBucket({ name: 'read', limit: 1_000, window: '1m' })],
        write: [tokenBucket({ name: 'write', limit: 100, window: '1m' })],
        create: [tokenBucket({ name: 'create', limit: 5, window: '1m' })],
      },
      ceiling: [tokenBucket({ name: 'team', limit: 5_000, window: '1m' })],
    },
    team,
  })
}
