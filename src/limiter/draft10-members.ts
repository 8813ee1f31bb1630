/**
 * How a draft-10 `RateLimit` / `RateLimit-Policy` member's parameters read, shared by the client
 * (`ratekeeper/client`) and `upstreamRateLimit()` (`ratekeeper/provider`), so that one field means
 * one wait to both.
 */
import { type FieldValue, readMembers } from './field-list.js'
import { MAX_FIGURE } from './reset-time.js'

/** A number item (Integer, or tolerated Decimal) from `min` to {@link MAX_FIGURE}, else `undefined`. */
export function figureOf(item: FieldValue | undefined, min: number): number | undefined {
  if (item === undefined || (item.type !== 'integer' && item.type !== 'decimal')) return undefined
  return item.value >= min && item.value <= MAX_FIGURE ? item.value : undefined
}

/** A non-negative number parameter (Integer, or tolerated Decimal), else `undefined`. */
export function numberParam(params: ReadonlyMap<string, FieldValue>, name: string): number | undefined {
  return figureOf(params.get(name), 0)
}

/** A remaining (`r`): an Integer or Decimal, a negative one read as 0 (nothing left), else `undefined`. */
export function remainingParam(params: ReadonlyMap<string, FieldValue>): number | undefined {
  const r = figureOf(params.get('r'), -MAX_FIGURE)
  return r === undefined ? undefined : Math.max(r, 0)
}

/** The text of a String or Token item, else `undefined`. */
export function textOf(item: FieldValue | undefined): string | undefined {
  return item !== undefined && (item.type === 'string' || item.type === 'token') ? item.value : undefined
}

/**
 * The longest wait (`t`, in ms rounded up) of a `RateLimit` field's policies with nothing
 * remaining (`r` below 1, a negative one included); `undefined` when none says. It is the wait
 * the client reads as the headline of that field alone.
 */
export function nothingLeftWaitMs(value: string): number | undefined {
  let longest: number | undefined
  for (const member of readMembers(value).members) {
    if (textOf(member.value) === undefined) continue
    const r = remainingParam(member.params)
    if (r === undefined || Math.floor(r) !== 0) continue
    const t = numberParam(member.params, 't')
    if (t === undefined) continue
    const ms = Math.ceil(t * 1000)
    if (longest === undefined || ms > longest) longest = ms
  }
  return longest
}
