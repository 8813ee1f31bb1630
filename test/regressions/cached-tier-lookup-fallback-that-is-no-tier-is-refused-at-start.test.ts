// A cachedLookup tier resolver whose `fallback` named no tier of the plan (a typo: 'fre') was
// accepted, and only showed at the first lookup failure: the very outage the fallback was there
// for then failed every request with ERR_RK_LOOKUP (a 500) instead of deciding it in a tier. The
// plan now refuses it when it is made, naming the option.
import { expect, it } from 'vitest'
import { tokenBucket } from '../../src/index.js'
import { cachedLookup, providerPlan } from '../../src/provider/index.js'

const tiers = {
  free: { policies: [tokenBucket({ name: 'per-minute', limit: 60, window: '1m' })] },
  pro: { policies: [tokenBucket({ name: 'per-minute', limit: 600, window: '1m' })] },
}

it('a tier lookup with a fallback that is no tier is an error when the plan is made', () => {
  const tier = cachedLookup(async () => 'pro', { fallback: 'fre', onError: () => {} })
  expect(() => providerPlan({ tiers, tier })).toThrow(
    expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'tier', message: expect.stringContaining('free, pro') }),
  )
})

it('a fallback naming a tier is accepted', () => {
  const tier = cachedLookup(async () => 'pro', { fallback: 'free' })
  expect(providerPlan({ tiers, tier }).tiers).toEqual(['free', 'pro'])
})
