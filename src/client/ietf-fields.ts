import { figureOf, numberParam, remainingParam, textOf } from '../limiter/draft10-members.js'
import { type FieldMember, type FieldValue, MAX_FIELD_LENGTH, MAX_MEMBERS, readMembers } from '../limiter/field-list.js'
import { blankPolicy, FIGURE_PATTERN, type Figures, isStricter, MAX_FIGURE, type MutablePolicy, strictest } from './rate-limit-info.js'

/** The members of a List field, read leniently: a malformed member (or field) is skipped, never thrown. */
export function tolerantList(value: string): FieldMember[] {
  return readMembers(value).members
}

/** The window (`w`, seconds) in ms; `undefined` when absent or not positive. */
function windowParamMs(params: ReadonlyMap<string, FieldValue>): number | undefined {
  const w = numberParam(params, 'w')
  return w !== undefined && w > 0 ? Math.round(w * 1000) : undefined
}

/**
 * draft-10: the members of `RateLimit` and `RateLimit-Policy` whose value is a policy name, joined by
 * name. A partition key (`pk`) tells two policies of one name apart only when both members carry
 * one: express-rate-limit's draft-8 mode sends `pk` in `RateLimit-Policy` alone. A name repeated
 * in one field keeps the strictest member: the fewest remaining (then the longest wait), the
 * smallest quota. Tokens are taken as names too, as drafts 8-9 wrote them.
 */
export function readDraft10(state: FieldMember[], policy: FieldMember[], now: number): MutablePolicy[] {
  const all: MutablePolicy[] = []
  const byName = new Map<string, MutablePolicy[]>()
  const entry = (member: FieldMember): MutablePolicy | undefined => {
    const name = textOf(member.value)
    if (name === undefined) return undefined
    const pk = member.params.get('pk')
    const partitionKey = pk?.type === 'binary' ? pk.value : undefined
    let same = byName.get(name)
    if (same === undefined) {
      same = []
      byName.set(name, same)
    }
    let p =
      same.find((x) => x.partitionKey === partitionKey) ?? same.find((x) => x.partitionKey === undefined || partitionKey === undefined)
    if (p === undefined) {
      p = blankPolicy('draft-10', name)
      same.push(p)
      all.push(p)
    }
    if (p.partitionKey === undefined) p.partitionKey = partitionKey
    return p
  }
  for (const member of policy) {
    const q = numberParam(member.params, 'q')
    if (q === undefined) continue
    const p = entry(member)
    if (p === undefined || (p.limit !== undefined && p.limit <= q)) continue
    p.limit = q
    p.windowMs = windowParamMs(member.params)
    p.unit = textOf(member.params.get('qu'))
  }
  for (const member of state) {
    const r = remainingParam(member.params)
    if (r === undefined) continue
    const p = entry(member)
    if (p === undefined) continue
    const remaining = Math.floor(r)
    const t = numberParam(member.params, 't')
    const resetAt = t === undefined ? undefined : now + Math.ceil(t * 1000)
    if (!isStricter(remaining, resetAt, p)) continue
    p.remaining = remaining
    p.resetAt = resetAt
  }
  return all
}

/** A quota and its window, as draft 6/7 `RateLimit-Policy` lists them. */
export interface QuotaWindow {
  readonly limit: number
  readonly windowMs: number | undefined
}

/** draft 6/7 `RateLimit-Policy: 100;w=60, 1000;w=86400`: quota and window pairs. */
export function readOldPolicies(policy: FieldMember[]): QuotaWindow[] {
  const out: QuotaWindow[] = []
  for (const member of policy) {
    const limit = figureOf(member.value, 0)
    if (limit === undefined) continue
    out.push({ limit, windowMs: windowParamMs(member.params) })
  }
  return out
}

const DRAFT7_PAIR = new RegExp(String.raw`^[ \t]*([A-Za-z]+)[ \t]*=[ \t]*(${FIGURE_PATTERN})[ \t]*(?:;[^,]*)?$`)

/**
 * draft 7 `RateLimit: limit=100, remaining=50, reset=5` (a Dictionary), read pair by pair without
 * exceptions, at most {@link MAX_MEMBERS} pairs, so that a malformed field costs one pass.
 */
export function readDraft7(value: string): Figures | undefined {
  if (value.length > MAX_FIELD_LENGTH) return undefined
  const out: Figures = {}
  let found = false
  const parts = value.split(',', MAX_MEMBERS)
  for (const part of parts) {
    const m = DRAFT7_PAIR.exec(part)
    if (m === null) continue
    const key = m[1].toLowerCase()
    let n = Number(m[2])
    if (n > MAX_FIGURE || (key !== 'limit' && key !== 'remaining' && key !== 'reset')) continue
    if (n < 0) {
      // A negative remaining is an overshoot: nothing left. A negative limit or reset means nothing.
      if (key !== 'remaining') continue
      n = 0
    }
    // A key sent twice (two `RateLimit` lines joined) keeps the strictest figure.
    const prev = out[key]
    out[key] = prev === undefined ? n : strictest(key, prev, n)
    found = true
  }
  return found ? out : undefined
}
