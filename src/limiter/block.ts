import type { PenaltyBoxPolicy } from './algorithms/penalty-box.js'
import type { Decision } from './decision.js'
import { checkKnownOptions, checkOptionsObject, invalid, StoreError } from './errors.js'
import type { CallPlan } from './layers.js'
import type { Policy } from './policy.js'
import { checkPolicies } from './policy-list.js'
import type { BlockOptions, UnblockOptions } from './types.js'

const KNOWN = { until: true, reason: true, policies: true, tag: true } as const

export const MAX_REASON = 128

/** The latest time a Date holds (+275760-09-13): a block's end is shown as a date (a 429 body's `blocked-until`). */
export const LATEST_DATE_MS = 8_640_000_000_000_000

/**
 * Whether `reason` may be a block's reason (also how a store's answer is checked): 1-128 UTF-16
 * units, no control character (C0, DEL, C1), line separator or lone surrogate.
 */
export function isBlockReason(reason: unknown): reason is string {
  if (typeof reason !== 'string' || reason.length === 0 || reason.length > MAX_REASON) return false
  for (let i = 0; i < reason.length; i++) {
    const c = reason.charCodeAt(i)
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return false
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = reason.charCodeAt(i + 1)
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) return false
  }
  return true
}

/** The penalty boxes of `list`, each as the box whose `charge` writes the block ending at `until`. */
function boxesOf(list: readonly Policy[], until: number, reason: string): Policy[] {
  const boxes: Policy[] = []
  for (const p of list) if (p.kind === 'penalty-box') boxes.push((p as PenaltyBoxPolicy).blocking(until, reason))
  return boxes
}

/**
 * `limiter.block()` (`until` given) and `limiter.unblock()` (`until` 0: forgives the record): a
 * charge of the call's penalty boxes — the limiter's own, or those of `policies` (a team's box:
 * the team's key and its policies) — that writes the block in the store, atomically, in one call. Resolves to the
 * decision after it; rejects when the store fails (a block is never silently dropped).
 */
export async function blockIn(
  run: (plan: CallPlan) => Decision | Promise<Decision>,
  limiterPolicies: readonly Policy[],
  where: string,
  key: string,
  options: BlockOptions | UnblockOptions | undefined,
  unblock: boolean,
): Promise<Decision> {
  let until = 0
  let reason = ''
  if (!unblock) {
    checkOptionsObject(where, options)
    checkKnownOptions(where, options as BlockOptions, KNOWN)
    const raw = (options as BlockOptions).until
    until = raw instanceof Date ? raw.getTime() : (raw as number)
    if (typeof until !== 'number' || !Number.isSafeInteger(until) || until < 1 || until > LATEST_DATE_MS)
      invalid(
        where,
        'until',
        `must be a Date or epoch ms (a positive integer up to ${LATEST_DATE_MS}, the latest time a Date holds; for good: a far date such as 9999-12-31)`,
        raw,
      )
    const why = (options as BlockOptions).reason
    if (why !== undefined) {
      if (!isBlockReason(why))
        invalid(
          where,
          'reason',
          `must be a string of 1-${MAX_REASON} characters without control characters`,
          typeof (why as unknown) === 'string' ? `${(why as string).length} characters` : why,
        )
      reason = why
    }
  } else if (options !== undefined) {
    checkOptionsObject(where, options)
    checkKnownOptions(where, options as UnblockOptions, { policies: true, tag: true })
  }
  const opts: UnblockOptions = options ?? {}
  // Any `policies` given (null included: `undefined` alone means "not passed") is the list to box.
  const list = opts.policies === undefined ? limiterPolicies : checkPolicies(where, 'policies', opts.policies, { requestTime: true })
  const policies = boxesOf(list, until, reason)
  if (policies.length === 0)
    invalid(where, 'policies', "must include a penaltyBox() (the limiter's, or of options.policies)", opts.policies)
  const decision = await run({ mode: 'charge', where, key, options: { policies, tag: opts.tag }, defaultCost: 1 })
  if (decision.reason === 'store-error')
    throw new StoreError('ERR_RK_STORE', `${where}: the store failed; the block was not written`, { cause: decision.error })
  return decision
}
