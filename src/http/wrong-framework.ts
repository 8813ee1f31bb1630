// A middleware of one framework mounted on another (the Express adapter in a Koa app, the Fetch
// adapter in an Express app): each framework hands its middleware different arguments, so the
// adapter would read fields that are not there, fail with a TypeError about them, or never answer.
// Said instead, naming the adapter to use. Only a framework told apart with certainty is reported.

import { ConfigurationError } from '../limiter/errors.js'

/** The frameworks an adapter can tell from the arguments it was called with. */
export type Framework = 'Express' | 'Koa' | 'Fastify' | 'Hono'

/** How each framework mounts ratekeeper. */
const MOUNT: Readonly<Record<Framework, string>> = {
  Express: "import { rateLimit } from 'ratekeeper/express'",
  Koa: "import { rateLimit } from 'ratekeeper/koa'",
  Fastify: "app.register(fastifyRateLimit, options), with fastifyRateLimit imported from 'ratekeeper/fastify'",
  Hono: "import { rateLimit } from 'ratekeeper/fetch'",
}

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null

/**
 * The framework that called a middleware with `(first, second)`, or `undefined` when it can't be
 * told: a Koa context `(ctx, next)`, a Hono context `(c, next)`, a Fastify hook
 * `(request, reply, done)`, Express `(req, res, next)`.
 */
export function callingFramework(first: unknown, second: unknown): Framework | undefined {
  if (!isObject(first)) return undefined
  if (typeof second === 'function') {
    if ('request' in first && 'response' in first && 'req' in first && 'res' in first) return 'Koa'
    if ('req' in first && 'env' in first) return 'Hono'
    return undefined
  }
  if (!isObject(second)) return undefined
  if ('raw' in first && 'raw' in second && typeof (second as { send?: unknown }).send === 'function') return 'Fastify'
  if ('socket' in first && 'headers' in first && typeof (second as { setHeader?: unknown }).setHeader === 'function') return 'Express'
  return undefined
}

/**
 * Throws when `(first, second)` come from a framework other than `expected`: the adapter's
 * middleware was mounted on the wrong framework. At request time, so the request is not quoted.
 */
export function checkFramework(where: string, expected: Framework, first: unknown, second: unknown): void {
  const found = callingFramework(first, second)
  if (found === undefined || found === expected) return
  throw new ConfigurationError(
    'ERR_RK_INVALID_ARGUMENT',
    where,
    'middleware',
    `is for ${expected === 'Hono' ? 'Fetch-API servers and Hono' : expected} but was mounted on ${found === 'Express' ? 'an' : 'a'} ${found} app, which calls its middleware with other arguments: ${MOUNT[found]} instead`,
    first,
    { requestTime: true },
  )
}
