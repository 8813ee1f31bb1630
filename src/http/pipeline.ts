import type { Decision } from '../limiter/decision.js'
import { ConfigurationError, invalid, invalidAtRequest } from '../limiter/errors.js'
import { hasConcurrency, type Policy } from '../limiter/policy.js'
import { isThenable } from '../limiter/thenable.js'
import type { ConsumeOptions, Limiter } from '../limiter/types.js'
import { type BodyRenderer, createStatusBody } from './bodies.js'
import { COUNT_MODES, type CountedRequest } from './count-mode.js'
import { type HeaderNameCase, type HeaderOptions, type HeaderRenderer, noStore } from './headers.js'
import {
  type AdapterOptionTable,
  checkHttpOptionValues,
  checkKnownHttpOptions,
  type HttpLimiterOptions,
  renameError,
  resolveLimiter,
} from './http-options.js'
import { DEFAULT_IPV6_SUBNET } from './ip.js'
import { lastIpKey } from './keys.js'
import { listed, listStage } from './list-stage.js'
import { countedInto, MADE_PER_REQUEST, madeDuringRequest, madePerRequestMessage } from './made-per-request.js'
import { createPolicyListHeaders } from './policy-list-headers.js'
import type { HttpOutcome, HttpRequestInfo, RequestPlan } from './request.js'
import { checkedCost, requestEnd, reservedEstimate } from './request-end.js'
import { scopedKey } from './route.js'
import { isShedding, sheddingOutcome } from './shedding.js'
import { type DecidedMark, firstTimeTest, foreignHeaderNames } from './stacking.js'

/** The compiled request → decision → response logic behind every adapter. */
export interface HttpLimiter<Raw = unknown, Info extends HttpRequestInfo<Raw> = HttpRequestInfo<Raw>> {
  /** The limiter deciding (the one passed in, or the one built from the options). */
  readonly limiter: Limiter
  /**
   * Decides one request. `routeScope` (e.g. `GET /users/:id`) counts the request in a bucket of
   * that route's own; omit it for an application-wide limit. Synchronous when the store and the
   * option functions are; throws (or rejects) when a key/cost/skip/plan function fails.
   */
  handle(info: Info, routeScope?: string): HttpOutcome | Promise<HttpOutcome>
  /**
   * Reports a configuration hazard through the limiter's `warn`: once per code and `app` (the
   * framework's application object) whatever the number of limiters in it, or once per code and
   * middleware when `app` is not given.
   */
  warnOnce(code: string, message: string, app?: object): void
  /** Closes the limiter if this object created it. */
  close(): Promise<void>
}

/** How an adapter's requests differ from the defaults of {@link createHttpLimiter}. */
export interface HttpAdapterSettings {
  /** The options the adapter itself handles, with their validators (run after the HTTP options'). @default none */
  readonly adapterOptions?: AdapterOptionTable
  /** How requests are marked as decided (see {@link DecidedMark}). @default 'weakset' */
  readonly mark?: DecidedMark
  /** `'lower'` spells the outcome's header names in lower case, for frameworks that lower-case every name they are given (Fastify). @default 'canonical' */
  readonly headerNames?: HeaderNameCase
  /** What to do about a request with neither a key nor an address, told in its error. @default the Node frameworks' hint */
  readonly addressHint?: string
}

const NO_ADAPTER_OPTIONS: AdapterOptionTable = Object.freeze({})
const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({})
/** The outcome of a request that is not limited (skipped, or already counted by another mount). */
export const PASS: HttpOutcome = Object.freeze({ action: 'next', status: 0, headers: EMPTY_HEADERS })

/** Codes already reported per application object (see `warnOnce`). */
const warnedApps = new WeakMap<object, Set<string>>()

/**
 * Hands `outcome` to `apply` when it is ready: at once when it is no promise (the memory path
 * makes none). A rejection, or a throw of `apply` after the wait, goes to `next`, which is also
 * the framework's error path (Express `next`, Fastify's hook `done`).
 */
export function applyWhenReady<Res, Next extends (error?: Error) => void>(
  outcome: HttpOutcome | Promise<HttpOutcome>,
  apply: (outcome: HttpOutcome, res: Res, next: Next) => void,
  res: Res,
  next: Next,
): void {
  if (!isThenable(outcome)) {
    apply(outcome, res, next)
    return
  }
  outcome.then(
    (o) => {
      try {
        apply(o, res, next)
      } catch (error) {
        next(error as Error)
      }
    },
    (error: Error) => next(error),
  )
}

/** Code of the warning given at the first request with neither a key nor a client address. */
export const NO_CLIENT_ADDRESS = 'RK_NO_CLIENT_ADDRESS'

/** What to do about a request with neither a key nor an address, on the Node frameworks. */
const NODE_ADDRESS_HINT =
  'the framework resolved none (a closed socket, or a trust-proxy setting that yields none): check that setting, or have the key function return a key for every request'

/** The header and body renderers of the options, their errors re-stated under `where`. */
function renderersOf(
  where: string,
  options: HttpLimiterOptions<never, never>,
  policies: readonly Policy[] | undefined,
  headerNames: HeaderNameCase,
): { renderHeaders: HeaderRenderer; renderBody: BodyRenderer } {
  const headers: unknown = options.headers
  if (headers !== undefined && headers !== false && (headers === null || typeof headers !== 'object' || Array.isArray(headers)))
    invalid(where, 'headers', 'must be header options ({ legacy, standard, tier, reason }) or false', headers)
  try {
    const headerOptions: HeaderOptions | undefined = options.headers === false ? { legacy: false, standard: false } : options.headers
    const renderHeaders = createPolicyListHeaders(headerOptions, policies, headerNames)
    const body = options.body
    const renderBody = createStatusBody(body === undefined || typeof body === 'object' ? body : { format: body }, options)
    return { renderHeaders, renderBody }
  } catch (error) {
    const inHeaders = error instanceof ConfigurationError && error.message.startsWith('rateLimitHeaders()')
    throw renameError(error, where, inHeaders ? 'headers.' : 'body.')
  }
}

/**
 * Validates adapter options once and compiles the request → decision → response logic every
 * adapter shares. `where` names the factory in error messages; `adapter` says how the adapter's
 * requests differ from the defaults (see {@link HttpAdapterSettings}).
 *
 * @example
 * const http = createHttpLimiter('rateLimit()', { policies: [tokenBucket({ limit: 100, window: '1m' })] })
 * const outcome = http.handle(info) // HttpOutcome, or a promise of one
 */
export function createHttpLimiter<Raw extends object, Info extends HttpRequestInfo<Raw> = HttpRequestInfo<Raw>>(
  where: string,
  options: HttpLimiterOptions<Raw, Info>,
  adapter: HttpAdapterSettings = {},
): HttpLimiter<Raw, Info> {
  const { adapterOptions = NO_ADAPTER_OPTIONS, mark = 'weakset', headerNames = 'canonical', addressHint = NODE_ADDRESS_HINT } = adapter
  checkKnownHttpOptions(where, options, adapterOptions)
  const { limiter, owned: ownsLimiter, policyOverride } = resolveLimiter(where, options)
  checkHttpOptionValues(where, options, adapterOptions)

  const cost = options.cost
  const requestIdOption = options.requestId
  const requestIdHeader = typeof requestIdOption === 'string' ? requestIdOption.toLowerCase() : undefined
  const requestIdFn = typeof requestIdOption === 'function' ? requestIdOption : undefined
  const subnet = options.ipv6Subnet ?? DEFAULT_IPV6_SUBNET
  const statusCode = options.statusCode ?? 429
  const storeErrorStatus = options.storeErrorStatus ?? 503
  // Without a plan, every decision is on one known policy list: what depends only on it is rendered once.
  const { renderHeaders, renderBody } = renderersOf(
    where,
    options,
    options.plan === undefined ? (policyOverride ?? limiter.policies) : undefined,
    headerNames,
  )
  // Stacked limiters: the names the others may send and this one doesn't.
  const foreignNames = foreignHeaderNames(options.headers === false ? { legacy: false, standard: false } : options.headers)

  const keyFn = options.key
  const costFn = typeof cost === 'function' ? checkedCost(where, cost) : undefined
  // Settled afterwards (`actualCost`): an estimate of 0 reserves one unit (see reservedEstimate).
  const estimate = options.actualCost === undefined ? (c: number | undefined) => c : reservedEstimate
  const fixedCost = estimate(typeof cost === 'number' ? cost : 1)
  const skip = options.skip
  const plan = options.plan
  const onDecision = options.onDecision
  /** False when `raw` was already decided by these limits (another mount); else marks it. */
  const firstTime = firstTimeTest(limiter, plan ?? policyOverride ?? limiter.policies, mark)
  // Per-call options for the common cases, built once.
  const baseCall: ConsumeOptions | undefined =
    policyOverride === undefined && fixedCost === 1 ? undefined : { cost: fixedCost, policies: policyOverride }

  const requestIdOf = (info: Info): string | undefined => {
    const id =
      requestIdHeader !== undefined
        ? info.headers.get(requestIdHeader)
        : requestIdFn !== undefined
          ? requestIdFn(info.raw, info)
          : info.requestId
    return typeof id === 'string' ? id : undefined
  }

  const report = (decision: Decision, info: Info): void => {
    if (onDecision === undefined) return
    try {
      onDecision(decision, info)
    } catch (error) {
      // Once per limiter, through its logger: a hook that throws on every request is one log line, not one per request.
      warnOnce('RK_HOOK_THREW', `ratekeeper: the onDecision hook threw: ${String(error)}`)
    }
  }

  // Allow and deny lists: asked before any limit, by address (before `skip`), then by key.
  const lists = listStage(where, options, (info) => requestIdOf(info as Info), PASS, limiter)
  const warnedHere = new Set<string>()
  /** Reports `code` once per application object, or once per limiter without one. */
  const warnOnce = (code: string, message: string, app?: object): void => {
    let codes = warnedHere
    if (app !== undefined) {
      codes = warnedApps.get(app) ?? new Set()
      warnedApps.set(app, codes)
    }
    if (codes.has(code)) return
    codes.add(code)
    // A limiter of your own making without `warn` still gets the warning heard.
    if (typeof limiter.warn === 'function') limiter.warn({ code, message })
    else process.emitWarning(message, { code })
  }
  const made = madeDuringRequest(where, () => warnOnce(MADE_PER_REQUEST, madePerRequestMessage(where)))
  const keyOfIp = lastIpKey(subnet, warnOnce)
  /**
   * The key of a request counted by its client address. A request with none is refused (the
   * adapter's error path: a 500 by default), never admitted uncounted nor put in one bucket with
   * every other such request; the first one is also reported through `warn`.
   */
  const addressKey = (ip: string | undefined): string => {
    if (typeof ip === 'string' && ip.length > 0) return keyOfIp(ip)
    warnOnce(NO_CLIENT_ADDRESS, `${where}: a request has no key and no client address, and is refused: ${addressHint}.`)
    throw new ConfigurationError(
      'ERR_RK_INVALID_ARGUMENT',
      where,
      'ip',
      `must be the client address of a request without a key, but ${addressHint}`,
      ip,
      { requestTime: true },
    )
  }

  // What the end of a request does; `undefined` when nothing ever needs it (no listener at all).
  const leases = plan !== undefined ? 'per-decision' : hasConcurrency(policyOverride ?? limiter.policies) ? 'always' : 'never'
  const ends =
    leases !== 'never' || options.actualCost !== undefined
      ? requestEnd<Info>(limiter, options.actualCost, leases, (code, message) => warnOnce(code, message))
      : undefined

  /** Turns a decision into what the adapter does. `counted` is set in count modes. */
  const outcome = (decision: Decision, info: Info, counted: CountedRequest | undefined): HttpOutcome => {
    report(decision, info)
    const finish = ends === undefined ? undefined : ends(decision, info, counted)
    const headers = renderHeaders(decision)
    const remove = foreignNames()
    if (decision.allowed || decision.dryRun === true) {
      return finish === undefined
        ? { action: 'next', status: 0, headers, decision, remove }
        : { action: 'next', status: 0, headers, decision, remove, finish }
    }
    // Shed by priority (every violated policy a shedding layer's): the service is busy, a 503.
    if (isShedding(decision)) return sheddingOutcome(decision, noStore(headers, headerNames), remove, requestIdOf(info))
    const body = renderBody(decision, { requestId: requestIdOf(info) })
    return {
      action: 'respond',
      status: body.status === 503 ? storeErrorStatus : statusCode,
      headers: noStore(headers, headerNames),
      body: body.body,
      contentType: body.contentType,
      decision,
      remove,
    }
  }

  const decideKey = (info: Info, key: string | undefined, call: ConsumeOptions | undefined, routeScope: string | undefined) => {
    // '' is a header that is missing (Koa's ctx.get) or empty: no key, as for the key helpers.
    const subject = key === undefined || key === '' ? addressKey(info.ip) : key
    if (typeof subject !== 'string' || subject.length === 0) {
      invalidAtRequest(where, 'key', "must return a non-empty string, or undefined (or '') for the client IP", subject)
    }
    if (lists === undefined) return decideSubject(info, subject, call, routeScope)
    return listed(lists.byKey(subject, info), () => decideSubject(info, subject, call, routeScope))
  }

  const decideSubject = (info: Info, key: string, call: ConsumeOptions | undefined, routeScope: string | undefined) => {
    const decision = limiter.decide(routeScope === undefined ? key : scopedKey(routeScope, key), call)
    if (isThenable(decision)) return decision.then((d) => outcome(d, info, undefined))
    return outcome(decision, info, undefined)
  }

  const withCost = (info: Info, key: string | undefined, routeScope: string | undefined): HttpOutcome | Promise<HttpOutcome> => {
    if (costFn === undefined) return decideKey(info, key, baseCall, routeScope)
    const c = costFn(info.raw, info)
    if (isThenable(c)) return c.then((n) => decideKey(info, key, { cost: estimate(n), policies: policyOverride }, routeScope))
    return decideKey(info, key, { cost: estimate(c), policies: policyOverride }, routeScope)
  }

  const withPlan = (info: Info, p: RequestPlan | undefined): HttpOutcome | Promise<HttpOutcome> => {
    if (p === undefined) return PASS
    if (typeof p !== 'object' || p === null) {
      invalidAtRequest(where, 'plan', 'must return a request plan or undefined', p)
    }
    const countMode = p.countMode ?? 'all'
    if (!COUNT_MODES.includes(countMode)) {
      invalidAtRequest(where, 'plan().countMode', "must be 'all', 'success' or 'failure'", countMode)
    }
    const policies = p.policies ?? policyOverride
    const call: ConsumeOptions = { cost: estimate(p.cost), policies, layers: p.layers, tag: p.tag, tier: p.tier, class: p.class }
    const counted = countMode === 'all' ? undefined : { key: p.key, policies, layers: p.layers, tag: p.tag, countMode }
    const decided = (d: Decision) => outcome(d, info, counted)
    const decide = () => {
      const decision = limiter.decide(p.key, call)
      return isThenable(decision) ? decision.then(decided) : decided(decision)
    }
    return lists === undefined ? decide() : listed(lists.byKey(p.key, info), decide)
  }

  const afterSkip = (info: Info, routeScope: string | undefined): HttpOutcome | Promise<HttpOutcome> => {
    if (plan !== undefined) {
      const p = plan(info, warnOnce)
      return isThenable(p) ? p.then((value) => withPlan(info, value)) : withPlan(info, p)
    }
    if (keyFn === undefined) return withCost(info, undefined, routeScope)
    const key = keyFn(info.raw, info)
    return isThenable(key) ? key.then((k) => withCost(info, k, routeScope)) : withCost(info, key, routeScope)
  }

  const handleAny = (info: Info, routeScope?: string): HttpOutcome | Promise<HttpOutcome> => {
    if (!firstTime(info.raw)) return PASS
    return lists === undefined ? afterLists(info, routeScope) : listed(lists.byIp(info), () => afterLists(info, routeScope))
  }

  const afterLists = (info: Info, routeScope?: string): HttpOutcome | Promise<HttpOutcome> => {
    if (skip !== undefined) {
      const skipped = skip(info.raw, info)
      if (isThenable(skipped)) return skipped.then((yes) => (yes === true ? PASS : afterSkip(info, routeScope)))
      if (skipped === true) return PASS
    }
    return afterSkip(info, routeScope)
  }

  /** The default setup (client-IP keys, a fixed cost, no skip or plan), without the stages it doesn't use. */
  const handleByIp = (info: Info, routeScope?: string): HttpOutcome | Promise<HttpOutcome> => {
    if (!firstTime(info.raw)) return PASS
    const subject = addressKey(info.ip)
    const decision = limiter.decide(routeScope === undefined ? subject : scopedKey(routeScope, subject), baseCall)
    return isThenable(decision) ? decision.then((d) => outcome(d, info, undefined)) : outcome(decision, info, undefined)
  }

  return {
    limiter,
    handle: countedInto(
      made,
      skip === undefined && plan === undefined && keyFn === undefined && costFn === undefined && lists === undefined
        ? handleByIp
        : handleAny,
    ),
    warnOnce,
    close: async () => {
      if (ownsLimiter) await limiter.close()
    },
  }
}
