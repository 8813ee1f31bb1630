// A call that passed pacing as the probe of a budget (its reset had passed) and then waited in
// the queue (for a concurrency slot, or the shared limiter) checks pacing again as it leaves the
// queue, saying it is the probe. If client.reset() had dropped that budget meanwhile and another
// call had become the probe of the budget that followed, the first one still went, as a second
// probe: two requests into a budget known to be spent, and its answer then ended the other's
// probe. A call is now the probe of one budget only: after a reset it waits for the new probe.
import { expect, it } from 'vitest'
import { Pacer } from '../../src/client/pacer.js'
import { parseRateLimitHeaders } from '../../src/client/parse-headers.js'

const spent = (now: number) => parseRateLimitHeaders({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' }, { now })

it('a probe from before client.reset() waits for the probe of the budget that followed', () => {
  const p = new Pacer(0)
  p.received('k', 0, spent(0), false, undefined, p.sent('k', 0))
  const first = p.before('k', 1000) // call A probes the spent budget; then it waits in the queue
  expect(first.kind).toBe('go')
  const aProbe = first.kind === 'go' ? first.probing : undefined
  expect(aProbe).toBeDefined()

  p.reset('k')
  p.received('k', 1000, spent(1000), false, undefined, p.sent('k', 1000)) // the budget starts again, spent
  const second = p.before('k', 2000) // call C probes the new budget
  expect(second.kind).toBe('go')
  const cProbe = second.kind === 'go' ? second.probing : undefined
  expect(cProbe).toBeDefined()

  // A leaves the queue: it is not the probe of this budget, so it waits for C's answer.
  expect(p.before('k', 2000, aProbe).kind).toBe('await')
  // C, checking again as it leaves the queue, still goes as the probe.
  expect(p.before('k', 2000, cProbe)).toEqual({ kind: 'go', probing: cProbe })
  // A's end (it was never sent) does not end C's probe.
  p.abandon('k', aProbe, undefined)
  expect(p.before('k', 2000).kind).toBe('await')
})
