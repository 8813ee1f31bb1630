import type { Policy, PolicyState } from '../../limiter/policy.js'
import type { StoreResult } from '../../limiter/store.js'
import { encodeState, type StepPlan } from '../step-plan.js'

/** How a call plans its writes from the states it assumes, decided at `at`. */
export type Planner = (states: readonly (PolicyState | undefined)[], at: number) => StepPlan

/** One call waiting in a {@link Batch}: settled once, by its answer, its failure or its deadline. */
export interface Member {
  readonly plan: Planner
  /** `performance.now()` ms after which the caller has been told it timed out. */
  readonly expires: number
  done: boolean
  resolve(result: StoreResult): void
  reject(error: unknown): void
}

/**
 * Calls on the same keys that queued behind a call in flight: they are decided one after the
 * other in Node, each on the states the previous one left, and applied by one database call
 * (all or none), so a hot key costs one round trip per batch rather than per call.
 */
export interface Batch {
  readonly keys: readonly string[]
  /** The policy of each key (the same for every member: a key names its policy). */
  readonly policies: readonly Policy[]
  readonly members: Member[]
}

/** What a batch writes: per key, whether, the last state (null: delete) and its time to live. */
export interface BatchWrites {
  readonly plans: StepPlan[]
  readonly write: boolean[]
  readonly next: (string | null)[]
  readonly ttls: number[]
  readonly writes: number
}

/** Plans every member in turn from `states` (the stored states assumed), each on the previous one's result. */
export function planBatch(
  members: readonly Member[],
  states: readonly (PolicyState | undefined)[],
  at: number,
  extraTtlMs: number,
): BatchWrites {
  const n = states.length
  const current = [...states]
  const write: boolean[] = new Array(n).fill(false)
  const next: (string | null)[] = new Array(n).fill(null)
  const ttls: number[] = new Array(n).fill(0)
  const plans: StepPlan[] = []
  let writes = 0
  for (const member of members) {
    const plan = member.plan(current, at)
    plans.push(plan)
    for (const w of plan.writes) {
      current[w.index] = w.state
      write[w.index] = true
      next[w.index] = w.state === undefined ? null : encodeState(w.state)
      ttls[w.index] = w.ttlMs + extraTtlMs
      writes++
    }
  }
  return { plans, write, next, ttls, writes }
}

/** Settles a member that is still waiting (a member whose deadline passed was already told). */
export function settle(member: Member, result: StoreResult | undefined, error?: unknown): void {
  if (member.done) return
  member.done = true
  if (result !== undefined) member.resolve(result)
  else member.reject(error)
}
