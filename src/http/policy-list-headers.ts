// The header renderer the HTTP layer uses: one known policy list, what depends only on it rendered once.
import type { Decision } from '../limiter/decision.js'
import type { Policy } from '../limiter/policy.js'
import {
  CANONICAL_NAMES,
  CONCURRENT_UNIT,
  ceilSeconds,
  epochSecondsText,
  type HeaderNameCase,
  type HeaderOptions,
  type HeaderRenderer,
  headerSettings,
  isSafeTier,
  jitteredSeconds,
  LOWER_CASE_NAMES,
  nonNegative,
  quoted,
  reasonHeaderName,
  renderer,
  retryAfterSeconds,
  windowSeconds,
} from './headers.js'
import { sfInteger } from './structured-fields.js'

/**
 * A renderer for the decisions of one known policy list: what the HTTP layer gets from its
 * limiter when no plan picks policies per request. It renders what {@link createRateLimitHeaders}
 * renders (names spelled as `nameCase` says), doing once what depends only on the list. For a
 * single policy (the common case) every figure is the decision's headline, so the per-policy
 * results (`decision.policies`) are never built, and `RateLimit-Policy` and `X-RateLimit-Limit`
 * are constant strings. Other lists, and decisions that are not about the policy (a store
 * error), go the general way.
 * @internal
 */
export function createPolicyListHeaders(
  options: HeaderOptions | undefined,
  policies: readonly Policy[] | undefined,
  nameCase: HeaderNameCase = 'canonical',
): HeaderRenderer {
  const settings = headerSettings(options)
  const names = nameCase === 'lower' ? LOWER_CASE_NAMES : CANONICAL_NAMES
  const general = renderer(settings, names)
  // A shadow policy is never shown: the general renderer leaves it out.
  if (policies === undefined || policies.length !== 1 || policies[0].shadow) return general
  const { legacy, standard, tier, jitter } = settings
  const p = policies[0]
  const reasonName = reasonHeaderName(settings, names)
  const isConcurrency = p.kind === 'concurrency'
  const limit = p.limit
  const burst = p.burst
  const windowMs = p.windowMs
  const isBucket = p.kind === 'token-bucket'
  let name: string
  let policyText: string
  try {
    name = quoted(p.name)
    const windowText = sfInteger(windowSeconds(p))
    policyText =
      standard !== 'draft-10'
        ? `${sfInteger(limit)};w=${windowText}`
        : isConcurrency
          ? `${name};q=${sfInteger(limit)}${CONCURRENT_UNIT}`
          : `${name};q=${sfInteger(limit)};w=${windowText}`
  } catch {
    // Not renderable (a policy of your own making with figures out of range): the general
    // renderer throws the same error, per request, as it always has.
    return general
  }
  const limitText = String(limit)
  const statePrefix = `${name};r=`
  const resetText = epochSecondsText()
  // The default sets, without a tier, are one object literal: one allocation, no shape changes.
  const literal = legacy && standard === 'draft-10' && names === CANONICAL_NAMES && reasonName === undefined
  const literalLower = legacy && standard === 'draft-10' && names === LOWER_CASE_NAMES && reasonName === undefined

  /** `RateLimit` of the one policy: `r`, and `t` as secondsUntilMoreQuota gives it, from the headline. */
  const stateOf = (decision: Decision, raw: number): string => {
    const r = statePrefix + sfInteger(nonNegative(raw))
    // The policy is violated exactly when the decision denies with a wait, which is then its own.
    const retryMs = decision.retryAfterMs
    if (!decision.allowed && retryMs !== 0 && Number.isFinite(retryMs)) return `${r};t=${sfInteger(Math.max(1, ceilSeconds(retryMs)))}`
    if (raw >= burst || isConcurrency) return r
    let ms = decision.resetAt - decision.at
    if (isBucket) ms -= ((burst - raw - 1) * windowMs) / limit
    return `${r};t=${sfInteger(Math.max(1, ceilSeconds(ms)))}`
  }

  return function renderRateLimitHeaders(decision: Decision): Record<string, string> {
    // Not a decision on this one policy (a store error has no policy state): the general way.
    if (decision.reason === 'store-error' || decision.limit !== limit) return general(decision)
    const raw = decision.remaining
    const remaining = String(nonNegative(raw))
    let out: Record<string, string>
    if (decision.tier === undefined && (literal || literalLower)) {
      out = literal
        ? {
            'X-RateLimit-Limit': limitText,
            'X-RateLimit-Remaining': remaining,
            'X-RateLimit-Reset': resetText(decision.resetAt),
            'RateLimit-Policy': policyText,
            RateLimit: stateOf(decision, raw),
          }
        : {
            'x-ratelimit-limit': limitText,
            'x-ratelimit-remaining': remaining,
            'x-ratelimit-reset': resetText(decision.resetAt),
            'ratelimit-policy': policyText,
            ratelimit: stateOf(decision, raw),
          }
    } else {
      out = {}
      if (reasonName !== undefined) out[reasonName] = name
      if (legacy) {
        out[names.limit] = limitText
        out[names.remaining] = remaining
        out[names.reset] = resetText(decision.resetAt)
        if (tier && decision.tier !== undefined && isSafeTier(decision.tier)) out[names.tier] = decision.tier
      }
      if (standard === 'draft-10') {
        out[names.policy] = policyText
        out[names.state] = stateOf(decision, raw)
      } else if (standard !== false) {
        const reset = ceilSeconds(decision.resetAt - decision.at)
        if (standard === 'draft-7') {
          out[names.state] = `limit=${limitText}, remaining=${remaining}, reset=${reset}`
        } else {
          out[names.draftLimit] = limitText
          out[names.draftRemaining] = remaining
          out[names.draftReset] = String(reset)
        }
        out[names.policy] = policyText
      }
    }
    const retry = retryAfterSeconds(decision)
    // The one policy denied: a concurrency hint gets its jitter.
    if (retry !== undefined) out[names.retryAfter] = String(isConcurrency ? jitteredSeconds(retry, jitter) : retry)
    return out
  }
}
