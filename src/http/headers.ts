import type { Decision, PolicyResult } from '../limiter/decision.js'
import {
  CANONICAL_NAMES,
  type HeaderNameCase,
  type HeaderNames,
  type HeaderOptions,
  type HeaderSettings,
  headerSettings,
  reasonHeaderName,
} from './header-settings.js'
import { sfInteger, sfString } from './structured-fields.js'

export {
  CANONICAL_NAMES,
  type HeaderNameCase,
  type HeaderNames,
  type HeaderOptions,
  type HeaderSettings,
  headerSettings,
  type LegacyHeaders,
  LOWER_CASE_NAMES,
  reasonHeaderName,
  type StandardHeaders,
} from './header-settings.js'

/** Renders the headers of one decision. Made once by {@link createRateLimitHeaders}. */
export type HeaderRenderer = (decision: Decision) => Record<string, string>

/** Visible ASCII, spaces allowed inside only: never CR, LF or other control characters. */
const TIER_PATTERN = /^[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?$/

/** Whether `tier` may be echoed in a header or body (1-128 visible ASCII characters). */
export function isSafeTier(tier: unknown): tier is string {
  return typeof tier === 'string' && TIER_PATTERN.test(tier)
}

/** Milliseconds to whole seconds, rounded up; 0 for anything not positive. `1001` gives 2. */
export function ceilSeconds(ms: number): number {
  return ms > 0 ? Math.ceil(ms / 1000) : 0
}

/**
 * The `Retry-After` value of a decision, in integer seconds rounded up and at least 1; or
 * `undefined` when no `Retry-After` is due: the request was admitted (or only reported, in
 * dry-run), or it can never succeed (`retryAfterMs: Infinity`, reason `'exceeds-capacity'`).
 */
export function retryAfterSeconds(decision: Decision): number | undefined {
  if (decision.allowed || decision.dryRun === true) return undefined
  const ms = decision.retryAfterMs
  if (!Number.isFinite(ms)) return undefined
  return Math.max(1, ceilSeconds(ms))
}

/**
 * The draft-10 `t` of one policy: seconds until it makes more quota available, rounded up, or
 * `undefined` when the policy is at its full allowance (nothing more to come).
 * - violated (and retryable): its own `retryAfterMs`, so `Retry-After` is never earlier than `t`;
 * - token bucket: until the next whole token;
 * - fixed window: until the window ends (`resetAt`);
 * - sliding window: until `resetAt`, when every counted request has left (an upper bound: quota
 *   may come back earlier, as older sub-windows age out);
 * - concurrency: none unless violated (a slot frees when a request ends, at no known time).
 */
export function secondsUntilMoreQuota(policy: PolicyResult, at: number): number | undefined {
  if (policy.violated && Number.isFinite(policy.retryAfterMs)) return Math.max(1, ceilSeconds(policy.retryAfterMs))
  // A concurrency slot comes back when a request ends, which nobody knows in advance.
  if (policy.remaining >= policy.burst || policy.kind === 'concurrency') return undefined
  let ms = policy.resetAt - at
  // GCRA: the bucket is full at resetAt; the next token arrives (burst - remaining - 1) emission intervals before it.
  if (policy.kind === 'token-bucket') ms -= ((policy.burst - policy.remaining - 1) * policy.windowMs) / policy.limit
  return Math.max(1, ceilSeconds(ms))
}

/**
 * Index in `list` (default: the decision's policies) of the policy behind the decision's headline
 * figures (`limit`, `remaining`, `resetAt`): never a shadow policy.
 */
export function headlineIndex(decision: Decision, list: readonly PolicyResult[] = decision.policies): number {
  const denied = !decision.allowed
  for (let i = 0; i < list.length; i++) {
    const p = list[i]
    if (hidden(p)) continue
    if (p.limit === decision.limit && p.remaining === decision.remaining && p.resetAt === decision.resetAt && (!denied || p.violated)) {
      return i
    }
  }
  return 0
}

/** A policy no client sees: a shadow one, or a penalty box that is not blocking (no allowance of the client's). */
const hidden = (p: PolicyResult): boolean => p.shadow === true || (p.kind === 'penalty-box' && !p.violated)

/** The policies a client may see: shadow ones and penalty boxes not blocking left out (the list itself when it has none). @internal */
export function clientVisible(list: readonly PolicyResult[]): readonly PolicyResult[] {
  for (let i = 0; i < list.length; i++) if (hidden(list[i])) return list.filter((p) => !hidden(p))
  return list
}

/** The quota unit parameter of a concurrency policy (draft-10 `qu`). @internal */
export const CONCURRENT_UNIT = ';qu="concurrent-requests"'

/** Whether a denial is for concurrency alone: every violated policy is a concurrency policy. @internal */
export function concurrencyDenial(decision: Decision): boolean {
  if (decision.allowed) return false
  const list = decision.policies
  let any = false
  for (let i = 0; i < list.length; i++) {
    if (!list[i].violated) continue
    if (list[i].kind !== 'concurrency') return false
    any = true
  }
  return any
}

/** `seconds` plus a random 0 to `seconds` more (whole seconds), from `jitter` in [0, 1). @internal */
export function jitteredSeconds(seconds: number, jitter: () => number): number {
  const r = jitter()
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 0.999_999) : 0
  return seconds + Math.floor(unit * (seconds + 1))
}

/** A policy's window in whole seconds, at least 1. @internal */
export const windowSeconds = (p: { readonly windowMs: number }): number => Math.max(1, ceilSeconds(p.windowMs))
/** @internal */
export const nonNegative = (n: number): number => Math.max(n, 0)

/** Policy names are already limited to `[A-Za-z0-9_.:/-]`: quote them without the escaping loop. */
const PLAIN_NAME = /^[A-Za-z0-9_.:/-]+$/
/** A policy name as a structured-field string. @internal */
export const quoted = (name: string): string => (PLAIN_NAME.test(name) ? `"${name}"` : sfString(name))

/**
 * The draft-10 pair for every policy, in one pass: `RateLimit-Policy` (`"name";q=100;w=60, …`)
 * and `RateLimit` (`"name";r=50;t=12, …`). Every number here is a non-negative safe integer.
 */
function draft10(list: readonly PolicyResult[], at: number, out: Record<string, string>, names: HeaderNames): void {
  let policy = ''
  let state = ''
  for (let i = 0; i < list.length; i++) {
    const p = list[i]
    const name = quoted(p.name)
    if (i > 0) {
      policy += ', '
      state += ', '
    }
    // A concurrency limit has no window: its unit says what it counts (requests in flight).
    policy +=
      p.kind === 'concurrency'
        ? `${name};q=${sfInteger(p.limit)}${CONCURRENT_UNIT}`
        : `${name};q=${sfInteger(p.limit)};w=${sfInteger(windowSeconds(p))}`
    state += `${name};r=${sfInteger(nonNegative(p.remaining))}`
    const t = secondsUntilMoreQuota(p, at)
    if (t !== undefined) state += `;t=${sfInteger(t)}`
  }
  out[names.policy] = policy
  out[names.state] = state
}

/** `100;w=60, 10000;w=86400`: the headline policy first, then the others (drafts 6 and 7). */
function policyFieldOldDrafts(list: readonly PolicyResult[], head: number): string {
  const h = list[head]
  let out = `${sfInteger(h.limit)};w=${sfInteger(windowSeconds(h))}`
  for (let i = 0; i < list.length; i++) {
    if (i === head) continue
    out += `, ${sfInteger(list[i].limit)};w=${sfInteger(windowSeconds(list[i]))}`
  }
  return out
}

/**
 * `String(Math.ceil(ms / 1000))` (epoch seconds of `X-RateLimit-Reset`), remembering the last
 * one: it changes at most once a second, and epoch seconds are too large for V8's small-integer
 * string cache. @internal
 */
export function epochSecondsText(): (ms: number) => string {
  let lastSeconds = Number.NaN
  let lastText = ''
  return (ms) => {
    const seconds = Math.ceil(ms / 1000)
    if (seconds !== lastSeconds) {
      lastSeconds = seconds
      lastText = String(seconds)
    }
    return lastText
  }
}

/** The general renderer: any policy list, names spelled by `names`. @internal */
export function renderer(settings: HeaderSettings, names: HeaderNames): HeaderRenderer {
  const { legacy, standard, tier, jitter } = settings
  const reasonName = reasonHeaderName(settings, names)
  const resetText = epochSecondsText()

  return function renderRateLimitHeaders(decision: Decision): Record<string, string> {
    const out: Record<string, string> = {}
    // Shadow policies are never shown to clients.
    const list = clientVisible(decision.policies)
    // A store-error decision knows no policy state (nor one on shadow policies alone): no rate-limit figures at all.
    if (list.length > 0) {
      if (reasonName !== undefined) out[reasonName] = quoted(list[headlineIndex(decision, list)].name)
      const remaining = nonNegative(decision.remaining)
      if (legacy) {
        out[names.limit] = String(decision.limit)
        out[names.remaining] = String(remaining)
        out[names.reset] = resetText(decision.resetAt)
        if (tier && decision.tier !== undefined && isSafeTier(decision.tier)) out[names.tier] = decision.tier
      }
      if (standard === 'draft-10') {
        draft10(list, decision.at, out, names)
      } else if (standard !== false) {
        const reset = ceilSeconds(decision.resetAt - decision.at)
        if (standard === 'draft-7') {
          out[names.state] = `limit=${decision.limit}, remaining=${remaining}, reset=${reset}`
        } else {
          out[names.draftLimit] = String(decision.limit)
          out[names.draftRemaining] = String(remaining)
          out[names.draftReset] = String(reset)
        }
        out[names.policy] = policyFieldOldDrafts(list, headlineIndex(decision, list))
      }
    }
    const retry = retryAfterSeconds(decision)
    if (retry !== undefined) out[names.retryAfter] = String(concurrencyDenial(decision) ? jitteredSeconds(retry, jitter) : retry)
    return out
  }
}

/**
 * Validates header options once and returns a renderer for them. Use it on hot paths (adapters);
 * {@link rateLimitHeaders} is the one-call form.
 *
 * @example
 * const render = createRateLimitHeaders({ standard: 'draft-7' })
 * const headers = render(decision) // { 'X-RateLimit-Limit': '100', …, RateLimit: 'limit=100, remaining=99, reset=1' }
 */
export function createRateLimitHeaders(options?: HeaderOptions): HeaderRenderer {
  return renderer(headerSettings(options), CANONICAL_NAMES)
}

const defaultRenderer = createRateLimitHeaders()

/**
 * The rate-limit headers of a decision, as a plain object (header name → value). Pure.
 *
 * By default: `X-RateLimit-Limit/-Remaining/-Reset` (+ `X-RateLimit-Tier`), the draft-10
 * `RateLimit-Policy` and `RateLimit` fields listing every policy, and `Retry-After` on a denial
 * that can be retried. A store-error decision gets no rate-limit figures (only `Retry-After: 1`
 * when it denied).
 *
 * @example
 * const d = await limiter.consume('sk_live_123')
 * for (const [name, value] of Object.entries(rateLimitHeaders(d))) res.setHeader(name, value)
 */
export function rateLimitHeaders(decision: Decision, options?: HeaderOptions): Record<string, string> {
  return options === undefined ? defaultRenderer(decision) : createRateLimitHeaders(options)(decision)
}

/**
 * `headers` plus `Cache-Control: no-store`, for an answer the limiter gives itself (a 429, a 503):
 * it replaces the response earlier middleware may have marked cacheable, and a shared cache must
 * never serve one client's denial to every client of the URL.
 */
export function noStore(headers: Readonly<Record<string, string>>, names: HeaderNameCase): Record<string, string> {
  return { ...headers, [names === 'lower' ? 'cache-control' : 'Cache-Control']: 'no-store' }
}
