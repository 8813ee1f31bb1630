import { LOOK } from '../../limiter/algorithms/concurrency.js'
import { ConfigurationError } from '../../limiter/errors.js'
import type { Policy } from '../../limiter/policy.js'
import type { StoreRequest } from '../../limiter/store.js'
import { keyHead, policyPart, stateKey } from './keys.js'
import { type Alone, aloneOf, OP, type Op, specOf } from './spec.js'

/** Per policy: the key part and the script's numbers `"kind:limit:…"`, `"s…"` in shadow (built once per policy). */
interface Compiled {
  readonly part: string
  readonly spec: string
  /** Its compact head (never for a shadow check: the compact layout has no shadow). */
  readonly alone: Alone | undefined
}
const compiled = new WeakMap<Policy, Compiled>()

function compile(policy: Policy): Compiled {
  let c = compiled.get(policy)
  if (c === undefined) {
    // A shadow check's spec is led by "s" (the script writes it only when every check admits).
    c = policy.shadow
      ? { part: policyPart(policy), spec: `s${specOf(policy.params)}`, alone: undefined }
      : { part: policyPart(policy), spec: specOf(policy.params), alone: aloneOf(policy.params) }
    compiled.set(policy, c)
  }
  return c
}

/**
 * A lease's text for the script: a safe integer (what the limiter draws: a random 53-bit number)
 * as nine characters from "0" to "o", six bits each (five in the last), high bits first. One
 * text per lease and one lease per text, as its decimal text would be, but about a third of the
 * time to write (V8 writes a number above 2^31 with its general double-to-text algorithm) and 9
 * bytes on the wire instead of 16 or 17; a lease is converted once per acquire and once per
 * release. Any other number (a fraction, or past 2^53: only a caller of the store's own methods
 * can give one) goes as "~" and its decimal text, which no nine-character text can be.
 */
export function leaseText(lease: number): string {
  if (!(lease <= Number.MAX_SAFE_INTEGER && Math.floor(lease) === lease)) return `~${lease}`
  const high = Math.floor(lease / 4_294_967_296) // 21 bits
  const low = lease >>> 0 // 32 bits
  return String.fromCharCode(
    48 + (high >>> 15),
    48 + ((high >>> 9) & 63),
    48 + ((high >>> 3) & 63),
    48 + (((high & 7) << 3) | (low >>> 29)),
    48 + ((low >>> 23) & 63),
    48 + ((low >>> 17) & 63),
    48 + ((low >>> 11) & 63),
    48 + ((low >>> 5) & 63),
    48 + (low & 31),
  )
}

/** What a cost (or a refund's whole charge) must be. */
const SAFE_COUNT = 'must be an integer from 0 to 9007199254740991 (Number.MAX_SAFE_INTEGER)'

/**
 * The numbers of a request that the script takes, checked: the caller's `now` (clock 'caller',
 * floored; else -1), the cost, for a refund when it was charged (floored), and the lease as
 * its text ({@link leaseText}: one-to-one, so the script compares leases as the TypeScript
 * does, and never reads it as a Lua number). A bad one is a
 * `ConfigurationError`, returned (the store rejects with it) rather than thrown.
 */
export function checkArguments(
  op: Op,
  request: StoreRequest,
  chargedAt: number,
  callerClock: boolean,
): { now: number; chargedAt: number; charged: number; lease: string | undefined } | ConfigurationError {
  let now = -1
  if (callerClock) {
    now = request.now
    if (typeof now !== 'number' || !Number.isFinite(now) || now < 0) {
      return new ConfigurationError('ERR_RK_INVALID_ARGUMENT', 'RedisStore', 'now', "must be epoch ms (clock: 'caller')", request.now)
    }
    now = Math.floor(now)
  }
  const cost = request.cost
  // Up to 2^53 - 1: the script's figures are exact below 2^53 (a cost of 1e300 overflowed them to NaN).
  if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 0) {
    return new ConfigurationError('ERR_RK_INVALID_ARGUMENT', 'RedisStore', 'cost', SAFE_COUNT, cost)
  }
  if (op === OP.refund && (typeof chargedAt !== 'number' || !Number.isFinite(chargedAt))) {
    return new ConfigurationError('ERR_RK_INVALID_ARGUMENT', 'RedisStore', 'chargedAt', 'must be epoch ms', chargedAt)
  }
  const given = request.lease
  let lease: string | undefined
  if (op === OP.consume || op === OP.peek || op === OP.refund) {
    if (typeof given === 'number' && Number.isFinite(given) && given >= 0) lease = leaseText(given)
    else if ((given !== undefined && !(given === LOOK && op === OP.peek)) || (op === OP.consume && cost > 0)) {
      // As the policy's own step: a concurrency check that may take a slot needs the request's lease.
      for (const policy of request.policies) {
        if (policy.kind === 'concurrency' && policy.limit > 0) {
          return new ConfigurationError(
            'ERR_RK_INVALID_ARGUMENT',
            `concurrency "${policy.name}"`,
            'lease',
            'must be a number >= 0 (StoreRequest.lease: the limiter sets it on a consume of a concurrency check)',
            given,
          )
        }
      }
    }
  }
  // A refund's whole charge (StoreRefundRequest.charged): at least the cost given back.
  let charged = cost
  if (op === OP.refund) {
    const given = (request as { charged?: unknown }).charged
    if (given !== undefined) {
      if (typeof given !== 'number' || !Number.isSafeInteger(given) || given < 0) {
        return new ConfigurationError('ERR_RK_INVALID_ARGUMENT', 'RedisStore', 'charged', SAFE_COUNT, given)
      }
      if (given > cost) charged = given
    }
  }
  return { now, chargedAt: op === OP.refund ? Math.floor(chargedAt) : 0, charged, lease }
}

/**
 * The state key and the script's spec of each check of a request. On a Cluster every key sits
 * under the request's tag, so the request runs in one slot. One Redis runs any keys in one
 * script, so there each subject has its own tag: a subject has one state whatever the tag of the
 * request (with or without its team, or an explicit tag).
 */
export function checksOf(
  prefix: string,
  cluster: boolean,
  request: StoreRequest,
): { keys: string[]; specs: string[]; alone: Alone | undefined } {
  const { keys, policies, tag } = request
  const n = policies.length
  const stateKeys = new Array<string>(n)
  const specs = new Array<string>(n)
  if (cluster) {
    const head = keyHead(prefix, tag)
    for (let i = 0; i < n; i++) {
      const c = compile(policies[i])
      stateKeys[i] = stateKey(head, c.part, keys[i], tag)
      specs[i] = c.spec
    }
  } else {
    let subject = ''
    let head = ''
    for (let i = 0; i < n; i++) {
      const c = compile(policies[i])
      if (keys[i] !== subject || i === 0) {
        subject = keys[i]
        head = keyHead(prefix, subject)
      }
      stateKeys[i] = head + c.part
      specs[i] = c.spec
    }
  }
  // The compact head of a request of one check (see `encodeBatch`).
  return { keys: stateKeys, specs, alone: n === 1 ? compile(policies[0]).alone : undefined }
}
