import type { Decision } from '../limiter/decision.js'
import { DecisionRecord } from '../limiter/decision-record.js'

/** What became of a request, as the metrics count it. */
export type Outcome =
  /** Admitted by the store. */
  | 'allowed'
  /** Denied by a policy. */
  | 'limited'
  /**
   * Would have been denied, let through: a dry-run limiter's denials (on the headline policy),
   * and a shadow policy's would-be denials (on that policy's series).
   */
  | 'shadow-limited'
  /** The store failed and `onStoreError: 'allow'` admitted it (or `'fallback'`, the fallback store failing too). */
  | 'store-error/allowed'
  /** The store failed and `onStoreError: 'deny'` denied it. */
  | 'store-error/denied'
  /** The store failed and the fallback store decided (`onStoreError: 'fallback'`). */
  | 'fallback'
  /** Let through by an allow list, undecided (on the series without a policy). */
  | 'allow-listed'
  /** Refused by a deny list, undecided (on the series without a policy). */
  | 'deny-listed'
  /**
   * Would have been admitted by a shadow policy (on that policy's series only): apart from
   * `allowed`, so that `allowed` and `limited` count each request once.
   */
  | 'shadow-allowed'

/** Every outcome, in the order the counters keep them. */
export const OUTCOMES: readonly Outcome[] = Object.freeze([
  'allowed',
  'limited',
  'shadow-limited',
  'store-error/allowed',
  'store-error/denied',
  'fallback',
  'allow-listed',
  'deny-listed',
  'shadow-allowed',
])
/** An outcome's index in {@link OUTCOMES}, the counters' order (read once, at load). */
const at = (outcome: Outcome): number => OUTCOMES.indexOf(outcome)
const ALLOWED = at('allowed')
const LIMITED = at('limited')
const STORE_ERROR_ALLOWED = at('store-error/allowed')
const STORE_ERROR_DENIED = at('store-error/denied')
const FALLBACK = at('fallback')
/** The index of a listed request's outcome in {@link OUTCOMES}. */
export const LISTED_OUTCOME = { allow: at('allow-listed'), deny: at('deny-listed') } as const
/** The indexes of a shadow policy's own verdicts in {@link OUTCOMES}: would admit, would deny. */
export const SHADOW_ALLOWED = at('shadow-allowed')
export const SHADOW_LIMITED = at('shadow-limited')

/** The index of a decision's outcome in {@link OUTCOMES}. */
export function outcomeIndex(d: Decision): number {
  if (d.reason === 'store-error') return d.allowed ? STORE_ERROR_ALLOWED : STORE_ERROR_DENIED
  if (d.fallback === true) return FALLBACK
  if (d.allowed) return ALLOWED
  // A dry-run denial is what a shadow policy's is: reported, never enforced.
  return d.dryRun === true ? SHADOW_LIMITED : LIMITED
}

/**
 * The decision's headline policy, by index (-1 when no policy enforces: none, or only shadow
 * ones): the one with the fewest remaining when admitted, else the violated one with the longest
 * wait — the policy the headers report. Read from the decision's figures, without building `policies`.
 */
export function headlineIndex(d: DecisionRecord): number {
  const list = d.list
  let head = -1
  let enforcing = -1
  for (let i = 0; i < list.length; i++) {
    // Shadow policies are never the headline (the headers do not show them).
    if (list[i].shadow) continue
    if (enforcing < 0) enforcing = i
    if (d.allowed) {
      if (head < 0 || d.remainingAt(i) < d.remainingAt(head)) head = i
      continue
    }
    const retry = d.retryAt(i)
    if (retry === 0) continue
    const best = head < 0 ? 0 : d.retryAt(head)
    if (head < 0 || (best > 0 && (retry < 0 || retry > best))) head = i
  }
  return head < 0 ? enforcing : head
}

/**
 * Whether the shadow policies of `d` were charged (a concurrency one took its lease): only when
 * every policy of the request admitted, shadow ones included.
 */
export function shadowCharged(d: DecisionRecord): boolean {
  const list = d.list
  for (let i = 0; i < list.length; i++) if (list[i].shadow && d.retryAt(i) !== 0) return false
  return true
}

/** The kernel's decisions are records; anything else (a hand-made object) is read through `policies`. */
export function isRecord(d: Decision): d is DecisionRecord {
  return d instanceof DecisionRecord
}
