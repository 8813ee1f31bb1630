import type { Decision } from '../limiter/decision.js'
import { checkKnownOptions, checkOptionsObject, invalid, invalidAtRequest } from '../limiter/errors.js'
import type { Limiter } from '../limiter/types.js'
import { checkLimiter } from './recorder.js'
import { type HeavyHitter, SpaceSaving } from './space-saving.js'

/** Options of {@link topLimited}. */
export interface TopLimitedOptions {
  /** Subjects tracked (the sketch's counters), 1-10000. @default 20 */
  size?: number
  /**
   * What a limited decision is counted as. Keys may be secrets (API keys): map them to something
   * you may show (an account id, a hash). @default (decision) => decision.key
   */
  subject?: (decision: Decision) => string
}

/** The most limited subjects of a limiter, in bounded memory (see {@link topLimited}). */
export interface TopLimited {
  /** The heaviest subjects, most limited first, at most `n` (default: `size`); each with the bounds of its true count. */
  top(n?: number): HeavyHitter[]
  /** Limited decisions counted since the start or the last `reset()`. */
  readonly total: number
  /** Starts counting afresh (e.g. every hour, for "who is limited now"). */
  reset(): void
  /** Stops listening to the limiter. */
  close(): void
}

const WHERE = 'topLimited()'
const KNOWN: { readonly [K in keyof Required<TopLimitedOptions>]: true } = { size: true, subject: true }

/**
 * Counts the subjects a limiter denies (limited, and dry-run denials; not store errors) in a
 * Space-Saving sketch of `size` counters: the heavy hitters, without a metric label per key and
 * without memory that grows with the number of clients. Every subject denied more than
 * `total / size` times is in `top()`, and each count is within its `error` of the truth.
 *
 * @example
 * const limited = topLimited(limiter, { size: 20 })
 * app.get('/admin/top-limited', (_req, res) => res.json(limited.top(10)))
 */
export function topLimited(limiter: Limiter, options: TopLimitedOptions = {}): TopLimited {
  checkLimiter(WHERE, limiter)
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const { size = 20, subject } = options
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 10_000) {
    invalid(WHERE, 'size', 'must be an integer from 1 to 10000', size)
  }
  if (subject !== undefined && typeof subject !== 'function') invalid(WHERE, 'subject', 'must be a function', subject)
  const sketch = new SpaceSaving(size)
  const off = limiter.on('limited', (d) => {
    if (d.reason === 'store-error') return
    const counted = subject === undefined ? d.key : subject(d)
    // Thrown to the limiter's emitter, which reports it once: a subject that is no name is never counted.
    if (typeof counted !== 'string' || counted.length === 0) invalidAtRequest(WHERE, 'subject', 'must return a non-empty string', counted)
    sketch.add(counted)
  })
  return {
    top: (n) => {
      if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 0))
        invalidAtRequest('topLimited().top()', 'n', 'must be an integer >= 0', n)
      return sketch.top(n)
    },
    get total() {
      return sketch.total
    },
    reset: () => sketch.clear(),
    close: off,
  }
}
