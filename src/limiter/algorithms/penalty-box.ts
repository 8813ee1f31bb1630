import { type Duration, parseDuration } from '../duration.js'
import { checkInteger, checkKnownOptions, checkOptionsObject, invalid } from '../errors.js'
import { NAME_PATTERN, type PenaltyBoxParams, type Policy, type PolicyState, type StepOutcome } from '../policy.js'
import { windowLabel } from './common.js'

/** Options of {@link penaltyBox}. */
export interface PenaltyBoxOptions {
  /** Name in headers-free places: 429 bodies (`violated-policies`), store keys. @default `"box-<after>-per-<within>"` */
  name?: string
  /** Denials (by the request's other policies) within `within` that put the subject in the box (1-1000). */
  after: number
  /** The span the `after` denials are counted in, from the first of them. */
  within: Duration
  /**
   * How long each block lasts: the first block, the second (a repeat offence before forgiveness),
   * and so on; the last one repeats (the cap). 1-16 durations, e.g. `['1m', '10m', '1h']`.
   */
  blocks: readonly Duration[]
  /** A quiet period (no denial, no block) after which the subject's record is forgotten: the next block is the first again. */
  forgiveAfter: Duration
  /** Record offences and blocks, but never deny (see `PolicyOptionsBase.shadow`). @default false */
  shadow?: boolean
}

const KNOWN = { name: true, shadow: true, after: true, within: true, blocks: true, forgiveAfter: true } as const

const NO_REASON: number[] = []

/**
 * `setUntil` of the box `limiter.unblock` charges: forgets the record. A block by hand is written
 * with `setUntil` of at least 2, however early its end: ending it is not forgiving it.
 */
export const FORGIVE = 1

/** The largest number of block durations. */
export const MAX_BLOCKS = 16

/** A penalty-box policy; `blocking` derives the policy that `limiter.block`/`unblock` charge. @internal */
export interface PenaltyBoxPolicy extends Policy {
  readonly kind: 'penalty-box'
  readonly params: PenaltyBoxParams
  /**
   * Records one offence (the request was denied by another policy) into `out`: the new state,
   * and, when this offence starts a block, a denial until its end (`retryAfterMs`).
   */
  offence(state: PolicyState | undefined, now: number, out: StepOutcome): void
  /**
   * The same box (same state) whose `charge` blocks until `until`, for `reason` (`''`: none): a
   * time already past ends the block, the level kept. `until` 0 (unblock) forgets the record.
   */
  blocking(until: number, reason?: string): PenaltyBoxPolicy
}

/**
 * The reason a block by hand was given, from a box's stored state, while the block lasts at
 * `now`. It is kept after the five numbers, three UTF-16 units per number (48 bits each), so
 * every store keeps states of numbers.
 */
export function blockReasonOf(state: PolicyState | undefined, now: number): string | undefined {
  if (!Array.isArray(state) || state.length <= 5 || !(state[0] > now)) return undefined
  let text = ''
  for (let i = 5; i < state.length; i++) {
    let word = state[i]
    for (let k = 0; k < 3 && word > 0; k++) {
      const unit = word % 65536
      word = (word - unit) / 65536
      if (unit !== 0) text += String.fromCharCode(unit)
    }
  }
  return text === '' ? undefined : text
}

/** `reason` as the numbers {@link blockReasonOf} reads (three UTF-16 units per number; none for `''`). */
function encodeReason(reason: string): number[] {
  const words: number[] = []
  for (let i = 0; i < reason.length; i += 3) {
    let word = 0
    for (let k = Math.min(2, reason.length - 1 - i); k >= 0; k--) word = word * 65536 + reason.charCodeAt(i + k)
    words.push(word)
  }
  return words
}

/** The state: `[blockedUntil, level, firstOffenceAt, offences, lastAt]` (see docs/penalty-box.md). */
const UNTIL = 0
const LEVEL = 1
const FIRST = 2
const COUNT = 3
const LAST = 4

function isBox(policy: Pick<Policy, 'kind'>): boolean {
  return policy.kind === 'penalty-box'
}

/** Some policy of the list is a penalty box (its store calls record offences). */
export function hasPenaltyBox(policies: readonly Pick<Policy, 'kind'>[]): boolean {
  for (let i = 0; i < policies.length; i++) if (isBox(policies[i])) return true
  return false
}

/**
 * A penalty box: a subject denied `after` times within `within` by the request's other policies
 * is blocked for `blocks[0]`; blocked again before it was forgiven, for `blocks[1]`, and so on up
 * to the last duration (the cap). A quiet period of `forgiveAfter` after the last offence or the
 * end of the last block, whichever is later, forgets the record. Put it in the same policy list as
 * the limits it watches: the store decides both in one atomic call (one round trip on Redis).
 * While a block lasts the box denies with `retryAfterMs` = the block's end. Requests denied while
 * blocked are not offences (the box answers them; blocks never extend themselves).
 *
 * @example
 * penaltyBox({ name: 'abuse', after: 5, within: '1m', blocks: ['1m', '10m', '1h'], forgiveAfter: '1d' })
 */
export function penaltyBox(options: PenaltyBoxOptions): Policy {
  const where = 'penaltyBox()'
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, KNOWN)
  const raw = options as unknown as Record<string, unknown>
  const after = checkInteger(where, 'after', raw.after, 1, 1000)
  const withinMs = parseDuration(where, 'within', raw.within)
  const forgiveMs = parseDuration(where, 'forgiveAfter', raw.forgiveAfter)
  if (!Array.isArray(raw.blocks) || raw.blocks.length === 0 || raw.blocks.length > MAX_BLOCKS) {
    invalid(where, 'blocks', `must be an array of 1-${MAX_BLOCKS} durations`, raw.blocks)
  }
  const blocksMs = Object.freeze((raw.blocks as unknown[]).map((b, i) => parseDuration(where, `blocks[${i}]`, b)))
  if (raw.shadow !== undefined && typeof raw.shadow !== 'boolean') invalid(where, 'shadow', 'must be a boolean', raw.shadow)
  if (raw.name !== undefined && (typeof raw.name !== 'string' || !NAME_PATTERN.test(raw.name))) {
    invalid(where, 'name', 'must be 1-64 characters: letters, digits and _ . : / - (starting with a letter or digit)', raw.name)
  }
  const label = windowLabel(withinMs)
  const name = (raw.name as string | undefined) ?? `box-${after}-per-${label}`
  const id = `${name}|pb:${after}:${withinMs}:${blocksMs.join('.')}:${forgiveMs}`
  return make(name, id, raw.within as Duration, raw.shadow === true, {
    kind: 'penalty-box',
    after,
    withinMs,
    blocksMs,
    forgiveMs,
    setUntil: 0,
    setReason: '',
  })
}

function make(name: string, id: string, within: Duration, shadow: boolean, params: PenaltyBoxParams): PenaltyBoxPolicy {
  const { after, withinMs, blocksMs, forgiveMs, setUntil } = params
  const s = [0, 0, 0, 0, 0]
  /** The reason of the block by hand in `s` (numbers, see blockReasonOf); empty for none. */
  let why: number[] = NO_REASON
  const setWhy = setUntil === 0 ? NO_REASON : encodeReason(params.setReason)

  /** Reads `state` into `s` as it stands at `now`: an expired count or a forgiven record is gone. */
  const load = (state: PolicyState | undefined, now: number): void => {
    if (state === undefined) {
      s[UNTIL] = s[LEVEL] = s[FIRST] = s[COUNT] = s[LAST] = 0
      why = NO_REASON
      return
    }
    const st = state as number[]
    for (let i = 0; i < 5; i++) s[i] = st[i]
    why = st.length > 5 && st[UNTIL] > now ? st.slice(5) : NO_REASON
    if (s[LEVEL] > 0 && now >= Math.max(s[UNTIL], s[LAST]) + forgiveMs) s[LEVEL] = 0
    if (s[COUNT] > 0 && now >= s[FIRST] + withinMs) s[COUNT] = s[FIRST] = 0
  }

  /** Writes `s` as the new state with its TTL: fresh (undefined) when nothing of it matters any more. */
  const save = (now: number, out: StepOutcome): void => {
    let end = s[UNTIL]
    if (s[COUNT] > 0 && s[FIRST] + withinMs > end) end = s[FIRST] + withinMs
    if (s[LEVEL] > 0 && Math.max(s[UNTIL], s[LAST]) + forgiveMs > end) end = Math.max(s[UNTIL], s[LAST]) + forgiveMs
    if (end <= now) {
      out.state = undefined
      out.ttlMs = 0
    } else {
      out.state = why.length > 0 && s[UNTIL] > now ? [...s, ...why] : s.slice()
      out.ttlMs = end - now
    }
  }

  /** The outcome of the box as `s` stands: denying until the block ends, or admitting. */
  const answer = (cost: number, now: number, out: StepOutcome): void => {
    out.never = false
    if (cost > 0 && s[UNTIL] > now) {
      out.allowed = false
      out.remaining = 0
      out.resetAt = s[UNTIL]
      out.retryAfterMs = s[UNTIL] - now
      return
    }
    out.allowed = true
    out.remaining = s[UNTIL] > now ? 0 : after - s[COUNT]
    out.resetAt = s[UNTIL] > now ? s[UNTIL] : s[COUNT] > 0 ? s[FIRST] + withinMs : now
    out.retryAfterMs = 0
  }

  const step = (state: PolicyState | undefined, cost: number, now: number, out: StepOutcome): void => {
    load(state, now)
    save(now, out)
    answer(cost, now, out)
  }

  const offence = (state: PolicyState | undefined, now: number, out: StepOutcome): void => {
    load(state, now)
    if (s[UNTIL] <= now) {
      if (s[COUNT] === 0) s[FIRST] = now
      s[COUNT]++
      s[LAST] = now
      if (s[COUNT] >= after) {
        s[LEVEL] = Math.min(s[LEVEL] + 1, blocksMs.length)
        s[UNTIL] = now + blocksMs[s[LEVEL] - 1]
        s[COUNT] = s[FIRST] = 0
        why = NO_REASON
      }
    }
    save(now, out)
    answer(1, now, out)
  }

  /** Refunds give nothing back: a box counts denials, not cost. */
  const refund = (state: PolicyState | undefined, _cost: number, _chargedAt: number, now: number, out: StepOutcome): void => {
    step(state, 0, now, out)
  }

  /** A settled cost changes nothing; a box made by `blocking` writes its block. */
  const charge = (state: PolicyState | undefined, _cost: number, now: number, out: StepOutcome): void => {
    load(state, now)
    if (setUntil === FORGIVE) {
      s[UNTIL] = s[LEVEL] = s[FIRST] = s[COUNT] = s[LAST] = 0
      why = NO_REASON
    } else if (setUntil !== 0) {
      // A block by hand, even one ending in the past: the level and offences stay as they are.
      s[UNTIL] = setUntil
      s[LAST] = now
      why = setWhy
    }
    save(now, out)
    answer(0, now, out)
  }

  const policy: PenaltyBoxPolicy = Object.freeze({
    kind: 'penalty-box' as const,
    name,
    limit: after,
    windowMs: withinMs,
    window: within,
    burst: after,
    id,
    shadow,
    step,
    refund,
    charge,
    offence,
    blocking: (until: number, reason = '') =>
      make(name, id, within, shadow, { ...params, setUntil: until === 0 ? FORGIVE : Math.max(FORGIVE + 1, until), setReason: reason }),
    params: Object.freeze(params),
  })
  return policy
}
