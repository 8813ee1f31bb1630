import { clientVisible } from '../http/headers.js'
import type { Decision } from '../limiter/decision.js'
import { checkKnownOptions, checkOptionsObject, invalid, invalidAtRequest } from '../limiter/errors.js'
import type { Limiter } from '../limiter/types.js'
import type { RequestClass } from './classes.js'
import { checkOptionalFunction } from './guards.js'
import type { PlanSubject, ProviderPlan } from './plan.js'
import type { ProviderRequestInfo } from './types.js'

/** One bucket's live state, as introspection reports it. */
export interface BucketState {
  /** The request class (`'read'`, `'write'`, …); `undefined` for the team ceiling. */
  readonly class: RequestClass | undefined
  /** The headline figures over the bucket's policies: the one with the fewest remaining. */
  readonly limit: number
  readonly remaining: number
  /** Epoch ms when the bucket is full again. */
  readonly resetAt: number
  /** The full peek, every policy included. */
  readonly decision: Decision
}

/** The caller's state, handed to a custom `format`. */
export interface RateLimitState {
  readonly key: string
  readonly tier: string | undefined
  /** One per listed class; a class whose policies are all shadow ones (never shown to clients) is left out. */
  readonly buckets: readonly BucketState[]
  /** The team ceiling, or `undefined` when the key has none (or it holds only shadow policies). */
  readonly ceiling: BucketState | undefined
  readonly requestId: string | undefined
}

/** Options of {@link rateLimitsHandler}. */
export interface RateLimitsHandlerOptions {
  /** The limiter the requests are decided by (it must be the one the adapter uses). */
  limiter: Limiter
  /** The plan the adapter uses: the handler peeks exactly the buckets it would charge. */
  plan: ProviderPlan
  /** Which classes to list, in this order. @default every class the plan's classifier gives */
  classes?: readonly RequestClass[]
  /**
   * The body: the managed.dev shape by default
   * (`{ data: { buckets: [{ class, limit, remaining, reset }], team_ceiling }, request_id }`, reset
   * in epoch seconds, `team_ceiling: null` without a team), or a function returning a JSON value.
   */
  format?: (state: RateLimitState) => unknown
  /**
   * The request id shown as `request_id`: a request header name (`'x-request-id'`), or a
   * function. Ids that are not 1-200 visible ASCII characters are left out.
   * @default the adapter's own id (Fastify `request.id`), else none
   */
  requestId?: string | ((req: ProviderRequestInfo) => string | undefined)
}

/** A response ready to copy onto any framework's response. */
export interface HandlerResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly contentType: string
  readonly body: string
}

const WHERE = 'rateLimitsHandler()'
const KNOWN: { readonly [K in keyof Required<RateLimitsHandlerOptions>]: true } = {
  limiter: true,
  plan: true,
  classes: true,
  format: true,
  requestId: true,
}
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const JSON_TYPE = 'application/json; charset=utf-8'
const PROBLEM_JSON = 'application/problem+json'
const SAFE_ID = /^[\x21-\x7e]{1,200}$/

const epochSeconds = (ms: number): number => Math.ceil(ms / 1000)

function managedDev(state: RateLimitState): unknown {
  const body: Record<string, unknown> = {
    data: {
      buckets: state.buckets.map((b) => ({ class: b.class, limit: b.limit, remaining: b.remaining, reset: epochSeconds(b.resetAt) })),
      team_ceiling:
        state.ceiling === undefined
          ? null
          : { limit: state.ceiling.limit, remaining: state.ceiling.remaining, reset: epochSeconds(state.ceiling.resetAt) },
    },
  }
  if (state.requestId !== undefined) body.request_id = state.requestId
  return body
}

function bucket(cls: RequestClass | undefined, d: Decision): BucketState {
  return { class: cls, limit: d.limit, remaining: Math.max(0, d.remaining), resetAt: d.resetAt, decision: d }
}

/** A bucket of shadow policies alone has no figures a client may see (its headline is 0 of 0): it is not listed. */
const shown = (d: Decision): boolean => clientVisible(d.policies).length > 0

/**
 * A handler for `GET /v1/rate-limits`: the caller's live buckets (one per request class, in its
 * tier) and its team ceiling, peeked — nothing is charged — through the same plan and limiter the
 * adapter decides with, so the figures are exactly what the next requests will meet. Framework
 * free: it returns `{ status, headers, contentType, body }` for any adapter to send.
 *
 * A store failure answers 503 (`Retry-After: 1`, a generic problem body); a failing tier or team
 * lookup rejects, for the framework's error handling.
 *
 * @example
 * const introspect = rateLimitsHandler({ limiter, plan })
 * app.get('/v1/rate-limits', async (req, res, next) => {
 *   try {
 *     const r = await introspect({ method: req.method, route: '/v1/rate-limits', path: req.path, ip: req.ip,
 *       headers: { get: (n) => req.get(n) }, requestId: req.get('x-request-id') })
 *     res.status(r.status).set(r.headers).type(r.contentType).send(r.body)
 *   } catch (err) { next(err) }
 * })
 */
export function rateLimitsHandler(options: RateLimitsHandlerOptions): (req: ProviderRequestInfo) => Promise<HandlerResponse> {
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const { limiter, plan, format } = options
  if (typeof limiter !== 'object' || limiter === null || typeof limiter.peek !== 'function') {
    invalid(WHERE, 'limiter', 'must be a limiter made by createLimiter()', limiter)
  }
  if (typeof plan !== 'function' || typeof plan.subject !== 'function')
    invalid(WHERE, 'plan', 'must be a plan made by providerPlan()', plan)
  checkOptionalFunction(WHERE, 'format', 'must be a function (state) => JSON value', format)
  let classes: readonly RequestClass[] | undefined
  if (options.classes !== undefined) {
    if (!Array.isArray(options.classes) || options.classes.length === 0) {
      invalid(WHERE, 'classes', 'must be a non-empty array of request classes', options.classes)
    }
    for (const c of options.classes) {
      if (!plan.classes.classes.includes(c))
        invalid(WHERE, 'classes', `must list classes the plan gives (${plan.classes.classes.join(', ')})`, c)
    }
    classes = options.classes
  }
  const render = format ?? managedDev
  const idOption = options.requestId
  if (idOption !== undefined && typeof idOption !== 'function' && (typeof idOption !== 'string' || !HEADER_NAME.test(idOption))) {
    invalid(WHERE, 'requestId', 'must be a header name or a function (request) => id', idOption)
  }
  const requestIdOf =
    typeof idOption === 'string'
      ? (req: ProviderRequestInfo) => req.headers.get(idOption)
      : typeof idOption === 'function'
        ? idOption
        : (req: ProviderRequestInfo) => req.requestId

  const peekAll = (subject: PlanSubject) => {
    const tag = subject.tag ?? subject.team?.key
    // Every listed class was checked against the classifier, and every tier has each of its classes.
    const list = classes === undefined ? subject.buckets : classes.flatMap((c) => subject.buckets.filter((b) => b.class === c))
    const peeks = list.map((b) => limiter.peek(subject.key, { cost: 0, policies: b.policies, tag }))
    const team = subject.team
    const ceiling =
      team === undefined ? undefined : limiter.peek(team.key, { cost: 0, policies: team.policies, tag: subject.tag ?? team.key })
    return Promise.all([Promise.all(peeks), ceiling]).then(([decisions, ceilingDecision]) => ({ list, decisions, ceilingDecision }))
  }

  return async function rateLimitsIntrospection(req: ProviderRequestInfo): Promise<HandlerResponse> {
    const subject = await plan.subject(req)
    const { list, decisions, ceilingDecision } = await peekAll(subject)
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' }
    if (decisions.some((d) => d.reason === 'store-error') || ceilingDecision?.reason === 'store-error') {
      headers['Retry-After'] = '1'
      const body = {
        type: 'about:blank',
        title: 'Service Unavailable',
        status: 503,
        detail: 'Rate-limit state is temporarily unavailable; retry after 1 second.',
      }
      return { status: 503, headers, contentType: PROBLEM_JSON, body: JSON.stringify(body) }
    }
    const id = requestIdOf(req)
    const requestId = typeof id === 'string' && SAFE_ID.test(id) ? id : undefined
    const state: RateLimitState = {
      key: subject.key,
      tier: subject.tier,
      buckets: list.flatMap((b, i) => (shown(decisions[i]) ? [bucket(b.class, decisions[i])] : [])),
      ceiling: ceilingDecision === undefined || !shown(ceilingDecision) ? undefined : bucket(undefined, ceilingDecision),
      requestId,
    }
    const body: unknown = JSON.stringify(render(state))
    // undefined, a function or a symbol has no JSON text: never a 200 without a body.
    if (typeof body !== 'string') invalidAtRequest(WHERE, 'format', 'must return a JSON value', body)
    return { status: 200, headers, contentType: JSON_TYPE, body }
  }
}
