import type { PlanRequest, ProviderPlan, ProviderRequestPlan } from '../../src/core/provider/index.js'
import type { ConsumeOptions, Decision, Limiter } from '../../src/index.js'

/** A request as adapters describe it. */
export function request(
  method: string,
  route: string | undefined,
  init: { path?: string; headers?: Record<string, string>; ip?: string; requestId?: string } = {},
): PlanRequest {
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
  req: PlanRequest,
): Promise<{ plan: ProviderRequestPlan; decision: Decision }> {
  const p = await plan(req)
  return { plan: p, decision: await limiter.consume(p.key, callOf(p)) }
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
