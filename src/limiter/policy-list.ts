import { ConfigurationError, invalid, invalidAtRequest } from './errors.js'
import type { Policy } from './policy.js'

/** Whether a value is a policy made by `tokenBucket()`, `slidingWindow()` or `fixedWindow()`. */
export function isPolicy(value: unknown): value is Policy {
  return (
    typeof value === 'object' && value !== null && typeof (value as Policy).step === 'function' && typeof (value as Policy).id === 'string'
  )
}

/** How {@link checkPolicies} judges a list. */
export interface PolicyListCheck {
  /** An empty list is fine (nothing extra to decide). @default false */
  readonly allowEmpty?: boolean
  /** The list comes with a call made while serving a request: errors name the option, never the value. @default false */
  readonly requestTime?: boolean
}

const checkedLists = new WeakSet<readonly Policy[]>()

/**
 * Checks a policy list: an array of policies with distinct names (`ERR_RK_INVALID_OPTION`,
 * `ERR_RK_DUPLICATE_POLICY`). The one check of a policy list: a list that passed once is
 * remembered (per array instance), so passing the same list with every call costs one lookup.
 */
export function checkPolicies(where: string, option: string, list: unknown, check: PolicyListCheck = {}): readonly Policy[] {
  if (checkedLists.has(list as readonly Policy[])) return list as readonly Policy[]
  const requestTime = check.requestTime === true
  const bad: (where: string, option: string, expected: string, received: unknown) => never = requestTime ? invalidInCall : invalid
  if (!Array.isArray(list)) bad(where, option, 'must be an array of policies (tokenBucket(), slidingWindow(), fixedWindow())', list)
  if (list.length === 0 && check.allowEmpty !== true) bad(where, option, 'must hold at least one policy', list)
  const names = new Set<string>()
  for (let i = 0; i < list.length; i++) {
    const p = list[i]
    if (!isPolicy(p)) bad(where, `${option}[${i}]`, 'must be a policy made by tokenBucket(), slidingWindow() or fixedWindow()', p)
    if (names.has(p.name)) {
      throw new ConfigurationError(
        'ERR_RK_DUPLICATE_POLICY',
        where,
        `${option}[${i}].name`,
        'must be unique within a request; name the policies',
        p.name,
        { requestTime },
      )
    }
    names.add(p.name)
  }
  checkedLists.add(list)
  return list
}

/** A bad call option (`ERR_RK_INVALID_OPTION`), its value kept out of the message: calls are made while serving requests. */
export function invalidInCall(where: string, option: string, expected: string, received: unknown): never {
  invalidAtRequest(where, option, expected, received, 'ERR_RK_INVALID_OPTION')
}
