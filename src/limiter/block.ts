import type { PenaltyBoxPolicy } from './algorithms/penalty-box.js'
import type { Decision } from './decision.js'
import { checkKnownOptions, checkOptionsObject, invalid, StoreError } from './errors.js'
import type { CallPlan } from './layers.js'
import type { Policy } from './policy.js'
import type { BlockOptions, UnblockOptions } from './types.js'

const KNOWN = { until: true, policies: true, tag: true } as const

/** The penalty boxes of `list`, each as the box whose `charge` writes the block ending at `until`. */
function boxesOf(list: readonly Policy[], until: number): Policy[] {
  const boxes: Policy[] = []
  for (const p of list) if (p.kind === 'penalty-box') boxes.push((p as PenaltyBoxPolicy).blocking(until))
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
  if (!unblock) {
    checkOptionsObject(where, options)
    checkKnownOptions(where, options as BlockOptions, KNOWN)
    const raw = (options as BlockOptions).until
    until = raw instanceof Date ? raw.getTime() : (raw as number)
    if (typeof until !== 'number' || !Number.isSafeInteger(until) || until < 1)
      invalid(where, 'until', 'must be a Date or epoch ms (a positive integer)', raw)
  } else if (options !== undefined) {
    checkOptionsObject(where, options)
    checkKnownOptions(where, options as UnblockOptions, { policies: true, tag: true })
  }
  const opts: UnblockOptions = options ?? {}
  const policies = boxesOf(opts.policies ?? limiterPolicies, until)
  if (policies.length === 0)
    invalid(where, 'policies', "must include a penaltyBox() (the limiter's, or of options.policies)", opts.policies)
  const decision = await run({ mode: 'charge', where, key, options: { policies, tag: opts.tag }, defaultCost: 1 })
  if (decision.reason === 'store-error')
    throw new StoreError('ERR_RK_STORE', `${where}: the store failed; the block was not written`, { cause: decision.error })
  return decision
}
