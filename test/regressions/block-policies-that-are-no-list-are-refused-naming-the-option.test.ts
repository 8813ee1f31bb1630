// limiter.block() and unblock() iterated `policies` without checking it: a number or an object
// threw a bare TypeError ("list is not iterable") naming no option, and `policies: null` was
// silently replaced by the limiter's own policies, so the block landed on boxes the caller did
// not name. Every `policies` given is now checked as a policy list, naming the option.
import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { penaltyBox } from '../../src/limiter/algorithms/penalty-box.js'

const T0 = Date.UTC(2030, 0, 1)

function setup() {
  return createLimiter({
    now: () => T0,
    policies: [
      fixedWindow({ name: 'rate', limit: 5, window: '1s' }),
      penaltyBox({ name: 'box', after: 3, within: '1m', blocks: ['1m'], forgiveAfter: '1h' }),
    ],
  })
}

describe.each([
  ['block', (policies: unknown) => setup().block('sk_live_1', { until: T0 + 60_000, policies: policies as never })],
  ['unblock', (policies: unknown) => setup().unblock('sk_live_1', { policies: policies as never })],
])('limiter.%s policies', (_name, call) => {
  it.each([[5], [null], [{ box: true }]])('%j is refused, naming the option', async (policies) => {
    await expect(call(policies)).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'policies' })
  })

  it('a list of policies is taken as before', async () => {
    const box = penaltyBox({ name: 'box', after: 3, within: '1m', blocks: ['1m'], forgiveAfter: '1h' })
    await expect(call([box])).resolves.toMatchObject({ reason: 'ok' })
  })
})
