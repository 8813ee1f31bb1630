import type { Policy } from '../limiter/policy.js'

/** Policy ids interned as small integers; grows only with distinct policy definitions. */
const slots = new Map<string, number>()
/** Each policy object's slot, so the hot path looks up an object rather than hashing its id. */
const slotOfPolicy = new WeakMap<Policy, number>()
let lastPolicy: Policy | undefined
let lastSlot = -1

/**
 * A process-local small integer for `policy.id`, for in-process stores' short keys: policies
 * with the same id (the same name and numbers) share it, and so share state.
 */
export function policySlot(policy: Policy): number {
  // One policy decides most calls in a row (a route's limiter): one comparison, no lookup.
  if (policy === lastPolicy) return lastSlot
  let slot = slotOfPolicy.get(policy)
  if (slot === undefined) {
    slot = slots.get(policy.id)
    if (slot === undefined) {
      slot = slots.size
      slots.set(policy.id, slot)
    }
    slotOfPolicy.set(policy, slot)
  }
  lastPolicy = policy
  lastSlot = slot
  return slot
}
