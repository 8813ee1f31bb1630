import type { Policy, PolicyState } from '../../limiter/policy.js'
import type { StoreResult } from '../../limiter/store.js'
import { encodeState, type StepPlan } from '../step-plan.js'

/** Longest time to live of a row, ms (2^62: 146 million years; the decision's time fits beside it in a bigint). */
const MAX_TTL_MS = 2 ** 62

/** How a call plans its writes from the states it assumes (parallel to its keys), decided at `at`. */
export type Planner = (states: readonly (PolicyState | undefined)[], at: number) => StepPlan

/** One call waiting for the database: settled once, by its answer, its failure or its deadline. */
export interface Member {
  /** Its storage keys (policy id, newline, subject), parallel to `policies`. */
  readonly keys: readonly string[]
  readonly policies: readonly Policy[]
  readonly plan: Planner
  /** The caller's clock (used with `clock: 'caller'`). */
  readonly now: number
  /** `performance.now()` ms after which the caller has been told it timed out. */
  readonly expires: number
  done: boolean
  /** The batch it was sent in, once sent. */
  batch: Batch | undefined
  resolve(result: StoreResult): void
  reject(error: unknown): void
}

/**
 * Calls that were waiting together, decided one after the other in Node (each on the states the
 * previous ones left) and applied by one database call, all or none: a round trip per batch
 * rather than per call, whether they share keys (a hot key) or not.
 */
export class Batch {
  /** Every key of the batch, once each. */
  readonly keys: string[] = []
  /** The policy of each key (a key names its policy). */
  readonly policies: Policy[] = []
  readonly members: Member[] = []
  /** Per member, the index in `keys` of each of its keys. */
  readonly #slots: number[][] = []
  readonly #index = new Map<string, number>()

  /** How many keys `member` would add to the batch (its keys the batch doesn't hold yet). */
  newKeys(member: Member): number {
    let count = 0
    for (let i = 0; i < member.keys.length; i++) {
      const key = member.keys[i]
      if (!this.#index.has(key) && member.keys.indexOf(key) === i) count++
    }
    return count
  }

  add(member: Member): void {
    const slots: number[] = []
    for (let i = 0; i < member.keys.length; i++) {
      const key = member.keys[i]
      let slot = this.#index.get(key)
      if (slot === undefined) {
        slot = this.keys.length
        this.#index.set(key, slot)
        this.keys.push(key)
        this.policies.push(member.policies[i])
      }
      slots.push(slot)
    }
    this.members.push(member)
    this.#slots.push(slots)
  }

  /**
   * Plans the members still waiting, in order, from `states` (the stored states assumed,
   * parallel to `keys`). Returns the members planned with their plans, and what to write per key:
   * whether, its last state (null: delete) and that state's time to live.
   */
  plan(states: readonly (PolicyState | undefined)[], at: number, extraTtlMs: number) {
    const n = this.keys.length
    const current = [...states]
    const write: boolean[] = new Array(n).fill(false)
    const next: (string | null)[] = new Array(n).fill(null)
    const ttls: number[] = new Array(n).fill(0)
    const planned: { member: Member; plan: StepPlan }[] = []
    let writes = 0
    for (let j = 0; j < this.members.length; j++) {
      const member = this.members[j]
      if (member.done) continue
      const slots = this.#slots[j]
      const plan = member.plan(
        slots.map((slot) => current[slot]),
        at,
      )
      planned.push({ member, plan })
      for (const w of plan.writes) {
        const slot = slots[w.index]
        current[slot] = w.state
        write[slot] = true
        next[slot] = w.state === undefined ? null : encodeState(w.state)
        // A whole number of ms the bigint expiry can hold (a debt may reach past 2^63 ms).
        ttls[slot] = Math.min(MAX_TTL_MS, Math.ceil(w.ttlMs + extraTtlMs))
        writes++
      }
    }
    return { planned, write, next, ttls, writes }
  }
}

/** Settles a member that is still waiting (a member whose deadline passed was already told). */
export function settle(member: Member, result: StoreResult | undefined, error?: unknown): void {
  if (member.done) return
  member.done = true
  if (result !== undefined) member.resolve(result)
  else member.reject(error)
}
