import { ConfigurationError, checkKnownOptions } from '../limiter/errors.js'
import { msProblem } from './options.js'

/** Per-request options, passed as `init.rateLimit`. */
export interface RequestRateLimitOptions {
  /**
   * `true` retries this request even if its method is not idempotent (you know a retry is safe);
   * `false` never retries it. @default by method
   */
  retry?: boolean
  /** The budget key for this request (overrides the `key` option). */
  key?: string
  /** Units this request takes from the queue's `rate` and the `limiter`. @default 1 */
  cost?: number
  /** Overrides `maxWaitMs` for this request. */
  maxWaitMs?: number
}

/** `RequestInit` plus the client's per-request options. */
export interface ClientRequestInit extends RequestInit {
  /** Per-request rate-limit options; never passed on to `fetch`. */
  rateLimit?: RequestRateLimitOptions
}

/** Where the arguments of one call are checked, in error messages. */
export const CALL_WHERE = 'client()'

const REQUEST_KNOWN: { readonly [K in keyof Required<RequestRateLimitOptions>]: true } = {
  retry: true,
  key: true,
  cost: true,
  maxWaitMs: true,
}

/** Throws the error for a bad argument of one call (`ERR_RK_INVALID_ARGUMENT`). */
export function invalidArgument(option: string, expected: string, received: unknown): never {
  throw new ConfigurationError('ERR_RK_INVALID_ARGUMENT', CALL_WHERE, option, expected, received)
}

/** Checks the per-request options (`init.rateLimit`) of one call; throws `ERR_RK_INVALID_ARGUMENT`. */
export function checkRequestOptions(value: unknown): RequestRateLimitOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalidArgument('rateLimit', 'must be an object', value)
  }
  const o = value as RequestRateLimitOptions
  checkKnownOptions(CALL_WHERE, o, REQUEST_KNOWN, { prefix: 'rateLimit.' })

  const bad = (option: string, expected: string, received: unknown): never => invalidArgument(`rateLimit.${option}`, expected, received)
  if (o.retry !== undefined && typeof o.retry !== 'boolean') bad('retry', 'must be a boolean', o.retry)
  if (o.key !== undefined && (typeof o.key !== 'string' || o.key.length === 0)) bad('key', 'must be a non-empty string', o.key)
  if (o.cost !== undefined && (typeof o.cost !== 'number' || !Number.isInteger(o.cost) || o.cost < 1 || o.cost > 1_000_000_000)) {
    bad('cost', 'must be an integer from 1 to 1000000000', o.cost)
  }
  if (o.maxWaitMs !== undefined) {
    const problem = msProblem(o.maxWaitMs, 0)
    if (problem !== undefined) bad('maxWaitMs', problem, o.maxWaitMs)
  }
  return o
}
