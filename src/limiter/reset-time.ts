/**
 * The one reading of a rate-limit reset field (`X-RateLimit-Reset`, draft-6 `RateLimit-Reset`),
 * shared by the client (`ratekeeper/client`) and `upstreamRateLimit()` (`ratekeeper/provider`).
 */

/**
 * How to read `X-RateLimit-Reset`, which has no specification: most APIs (GitHub, every seed) send
 * Unix epoch seconds, some (Fastify) send seconds from now, a few epoch milliseconds.
 * - `'auto'` (the default): a value of at least 1e11 is epoch ms, at least 1e9 epoch seconds
 *   (1e9 s is the year 2001, and no window lasts 31 years), anything smaller seconds from now;
 * - the other values force one reading.
 */
export type ResetFormat = 'auto' | 'epoch-seconds' | 'epoch-ms' | 'delta-seconds'

/** Every {@link ResetFormat}, to check an option against. */
export const RESET_FORMATS: readonly unknown[] = ['auto', 'epoch-seconds', 'epoch-ms', 'delta-seconds'] satisfies ResetFormat[]

/** Converts a reset value to epoch ms according to `format`. */
export function resetToEpochMs(value: number, now: number, format: ResetFormat = 'auto'): number {
  switch (format) {
    case 'epoch-seconds':
      return Math.round(value * 1000)
    case 'epoch-ms':
      return Math.round(value)
    case 'delta-seconds':
      return now + Math.round(value * 1000)
    default:
      if (value >= 1e11) return Math.round(value)
      if (value >= 1e9) return Math.round(value * 1000)
      return now + Math.round(value * 1000)
  }
}

/** Ignore figures beyond this: no real quota or delay is this large, and it keeps arithmetic exact. */
export const MAX_FIGURE = 1e15

/** A figure as the legacy fields and draft 7 write it: an optional minus, digits, an optional short fraction. */
export const FIGURE_PATTERN = String.raw`-?\d{1,16}(?:\.\d{1,6})?`

/** Most members of a comma-joined field looked at. */
export const MAX_MEMBERS = 64

/** One member of a comma-joined numeric field: a number, optionally followed by parameters (`100;w=60`). */
const MEMBER_NUMBER = new RegExp(String.raw`^[ \t]*(${FIGURE_PATTERN})[ \t]*(?:;|$)`)

/**
 * A non-negative number of a legacy field (`"100"`, `"100, 100;w=60"`, `"1707480060.5"`); negatives
 * read as 0. A field sent twice arrives comma-joined (a gateway and the app each send one, `"5, 0"`):
 * `pick` chooses among the members (the strictest). Malformed members are skipped; at most
 * {@link MAX_MEMBERS} are looked at, in one pass, no exceptions.
 */
export function legacyNumber(value: string | undefined, pick: (a: number, b: number) => number): number | undefined {
  if (value === undefined) return undefined
  let out: number | undefined
  for (const part of value.split(',', MAX_MEMBERS)) {
    const m = MEMBER_NUMBER.exec(part)
    if (m === null) continue
    const n = Number(m[1])
    if (!Number.isFinite(n) || n > MAX_FIGURE) continue
    const v = Math.max(n, 0)
    out = out === undefined ? v : pick(out, v)
  }
  return out
}

/** A reset field's value (the latest of its members: the strictest), epoch ms; `undefined` when none reads. */
export function readReset(value: string | undefined, now: number, format: ResetFormat = 'auto'): number | undefined {
  const n = legacyNumber(value, Math.max)
  return n === undefined ? undefined : resetToEpochMs(n, now, format)
}
