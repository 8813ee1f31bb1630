// limiter.on() took any event name: a listener on a misspelled event ('store_error',
// 'limit') was added without a word and never called, so an alert wired to it stayed silent
// through a whole outage (and the limiter paid for event dispatch nobody heard). The client's
// on() refused unknown names already; the limiter's now does too, naming the option.
import { expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'

it('limiter.on() refuses an event it never emits, with a ConfigurationError naming it', () => {
  const limiter = createLimiter({ policies: [tokenBucket({ limit: 5, window: '1m' })] })
  for (const event of ['store_error', 'limit', 'Decision', '__proto__', 'toString']) {
    expect(() => limiter.on(event as 'decision', () => undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'event' }),
    )
  }
  for (const event of [
    'decision',
    'limited',
    'shadow-limited',
    'near-limit',
    'store-error',
    'evicted',
    'warn',
    'store-call',
    'store-measure',
    'released',
    'listed',
  ] as const) {
    expect(typeof limiter.on(event, () => undefined)).toBe('function')
  }
})
