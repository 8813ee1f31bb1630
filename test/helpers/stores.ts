import type { Store } from '../../src/index.js'

/** A store whose every decision throws synchronously (a broken custom store). */
export function throwingStore(): Store {
  const boom = (): never => {
    throw new Error('boom')
  }
  return { consume: boom, peek: boom, refund: boom, reset: () => {}, close: () => {} }
}
