// A cachedLookup tier resolver with a `fallback` that answered a tier name the plan does not have
// (a plan renamed in the database, a typo, a stale row) failed every request of that key with
// ERR_RK_LOOKUP — a 500 — for the whole TTL, since the answer was cached, and onError never heard
// of it. docs/provider-features.md promises that such an answer is a failed lookup: decided in the
// fallback tier, told to onError, and not cached (the next request asks again).
import { expect, it, vi } from 'vitest'
import { tokenBucket } from '../../src/index.js'
import { cachedLookup, providerPlan } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'

const req = {
  method: 'GET',
  route: '/',
  path: '/',
  ip: '192.0.2.1',
  headers: { get: (n: string) => (n === 'x-api-key' ? 'k1' : undefined) },
}
const tiers = {
  free: { policies: [tokenBucket({ name: 'per-minute', limit: 60, window: '1m' })] },
  pro: { policies: [tokenBucket({ name: 'per-minute', limit: 600, window: '1m' })] },
}

it.each([
  ['a name that is no tier', 'platinum'],
  ['no tier at all', undefined],
])('a tier lookup answering %s is decided in the fallback tier, heard, and asked again', async (_, answer) => {
  const c = clock(0)
  const heard: unknown[] = []
  let answers = answer as string | undefined
  let calls = 0
  const tier = cachedLookup(
    async () => {
      calls++
      return answers
    },
    { fallback: 'free', onError: (e) => heard.push(e), ttl: '1m', now: c.now },
  )
  const plan = providerPlan({ key: (_raw, info) => info.headers.get('x-api-key'), tiers, tier })
  await expect(plan(req)).resolves.toMatchObject({ tier: 'free' })
  expect(heard).toEqual([expect.objectContaining({ code: 'ERR_RK_LOOKUP' })])
  // The unusable answer is not cached: once the database holds a tier again, it is used at once.
  answers = 'pro'
  await expect(plan(req)).resolves.toMatchObject({ tier: 'pro' })
  expect(calls).toBe(2)
})

it('without a fallback, an unknown tier still fails the request, and is not cached', async () => {
  let answers = 'platinum'
  const tier = cachedLookup(async () => answers)
  const plan = providerPlan({ key: (_raw, info) => info.headers.get('x-api-key'), tiers, tier })
  await expect(plan(req)).rejects.toMatchObject({ code: 'ERR_RK_LOOKUP' })
  answers = 'pro'
  await expect(plan(req)).resolves.toMatchObject({ tier: 'pro' })
})

it('without onError, an answer naming no tier is said once, not once per request', async () => {
  const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
  try {
    const tier = cachedLookup(async () => 'platinum', { fallback: 'free' })
    const plan = providerPlan({ key: (_raw, info) => info.headers.get('x-api-key'), tiers, tier })
    for (let i = 0; i < 20; i++) await expect(plan(req)).resolves.toMatchObject({ tier: 'free' })
    const said = emitted.mock.calls.filter(([, o]) => (o as { code?: string } | undefined)?.code === 'RK_LOOKUP_FAILED')
    expect(said).toHaveLength(1)
    expect(String(said[0][0])).not.toContain('platinum')
  } finally {
    emitted.mockRestore()
  }
})
