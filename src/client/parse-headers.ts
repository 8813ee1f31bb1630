import { checkKnownOptions, invalid } from '../limiter/errors.js'
import { RESET_FORMATS, type ResetFormat, resetToEpochMs } from '../limiter/reset-time.js'
import { responseRetryAfter } from '../limiter/retry-after.js'
import { type HeadersLike, toLookup } from './headers-like.js'
import { readDraft7, readDraft10, readOldPolicies, tolerantList } from './ietf-fields.js'
import { readOneFieldPerFigure } from './legacy-fields.js'
import { blankPolicy, type Figures, isStricter, type MutablePolicy, type RateLimitDialect, type RateLimitInfo } from './rate-limit-info.js'

/** Options of {@link parseRateLimitHeaders}. */
export interface ParseRateLimitOptions {
  /** The time the response was received, epoch ms, for relative values. @default Date.now() */
  now?: number
  /** How to read `X-RateLimit-Reset`. @default 'auto' */
  xRateLimitReset?: ResetFormat
}

const WHERE = 'parseRateLimitHeaders()'
const KNOWN: { readonly [K in keyof Required<ParseRateLimitOptions>]: true } = { now: true, xRateLimitReset: true }
const DIALECT_ORDER: readonly RateLimitDialect[] = ['draft-10', 'draft-7', 'draft-6', 'x-ratelimit']

/** Checks the options of {@link parseRateLimitHeaders} and applies the defaults. */
function readOptions(options: ParseRateLimitOptions | undefined): { now: number; resetFormat: ResetFormat } {
  let now = Date.now()
  let resetFormat: ResetFormat = 'auto'
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null) invalid(WHERE, 'options', 'must be an object', options)
    checkKnownOptions(WHERE, options, KNOWN)
    if (options.now !== undefined) {
      if (typeof options.now !== 'number' || !Number.isFinite(options.now)) invalid(WHERE, 'now', 'must be epoch ms', options.now)
      now = options.now
    }
    if (options.xRateLimitReset !== undefined) {
      if (!RESET_FORMATS.includes(options.xRateLimitReset)) {
        invalid(WHERE, 'xRateLimitReset', "must be 'auto', 'epoch-seconds', 'epoch-ms' or 'delta-seconds'", options.xRateLimitReset)
      }
      resetFormat = options.xRateLimitReset
    }
  }
  return { now, resetFormat }
}

/** The policy with the fewest remaining (ties: the one that waits longest), among those reporting a remaining. */
function headlineOf(list: readonly MutablePolicy[]): MutablePolicy | undefined {
  let best: MutablePolicy | undefined
  for (const p of list) {
    if (p.remaining === undefined) continue
    if (best === undefined || isStricter(p.remaining, p.resetAt, best)) best = p
  }
  return best
}

/**
 * The headline: the strictest policy of the first dialect (in {@link DIALECT_ORDER}) that reports a
 * remaining, else the first policy found. Its reset, when it has none, is borrowed from another
 * dialect's headline saying the same remaining.
 */
function headline(
  found: ReadonlyMap<RateLimitDialect, readonly MutablePolicy[]>,
  dialects: readonly RateLimitDialect[],
): { policy: MutablePolicy; dialect: RateLimitDialect; resetAt: number | undefined } | undefined {
  let head: MutablePolicy | undefined
  let headDialect: RateLimitDialect | undefined
  for (const d of dialects) {
    const h = headlineOf(found.get(d) ?? [])
    if (h !== undefined) {
      head = h
      headDialect = d
      break
    }
  }
  if (head === undefined && dialects.length > 0) {
    headDialect = dialects[0]
    head = found.get(headDialect)?.[0]
  }
  if (head === undefined || headDialect === undefined) return undefined
  let resetAt = head.resetAt
  if (resetAt === undefined && head.remaining !== undefined) {
    // draft 10 omits `t` for a policy that has nothing more to come; another dialect saying the same remaining may know a reset.
    for (const d of dialects) {
      const other = headlineOf(found.get(d) ?? [])
      if (other !== undefined && other.remaining === head.remaining && other.resetAt !== undefined) {
        resetAt = other.resetAt
        break
      }
    }
  }
  return { policy: head, dialect: headDialect, resetAt }
}

/**
 * Reads the rate-limit state a response reports, in every common dialect, and normalises it:
 * `X-RateLimit-*` (Reset as epoch seconds, epoch ms or a delta, see {@link ResetFormat}),
 * IETF draft 10 (`RateLimit` / `RateLimit-Policy` structured fields, several policies), draft 7
 * (`RateLimit: limit=…, remaining=…, reset=…`), draft 6 (`RateLimit-Limit/-Remaining/-Reset`),
 * `Retry-After` (seconds or an HTTP-date) and `X-RateLimit-Tier`.
 *
 * Never throws on header values: a malformed field or list member is ignored, and what is absent
 * stays `undefined`. Only a `headers` argument that is not an object, or a bad option, throws.
 *
 * @example
 * const res = await fetch('https://api.example.com/v1/items')
 * const info = parseRateLimitHeaders(res.headers)
 * if (info.remaining === 0 && info.resetAt !== undefined) console.log(`wait ${info.resetAt - Date.now()} ms`)
 */
export function parseRateLimitHeaders(headers: HeadersLike, options?: ParseRateLimitOptions): RateLimitInfo {
  const { now, resetFormat } = readOptions(options)
  const get = toLookup(WHERE, headers)
  const read = (name: string): string | undefined => {
    try {
      return get(name)
    } catch {
      return undefined
    }
  }

  const found = new Map<RateLimitDialect, MutablePolicy[]>()
  const rateLimit = read('ratelimit')
  const policyField = read('ratelimit-policy')
  const policyList = policyField === undefined ? [] : tolerantList(policyField)

  const draft10 = readDraft10(rateLimit === undefined ? [] : tolerantList(rateLimit), policyList, now)
  if (draft10.length > 0) found.set('draft-10', draft10)

  // Draft 6/7 name their windows in `RateLimit-Policy`: the one of the same quota, else the first.
  const oldPolicies = readOldPolicies(policyList)
  const windowFor = (limit: number | undefined): number | undefined => {
    if (oldPolicies.length === 0) return undefined
    return (oldPolicies.find((p) => p.limit === limit) ?? oldPolicies[0]).windowMs
  }
  const onePolicy = (dialect: RateLimitDialect, figures: Figures | undefined, format: ResetFormat = 'auto'): void => {
    if (figures === undefined) return
    const { limit, remaining, reset } = figures
    const p = blankPolicy(dialect)
    p.limit = limit
    p.remaining = remaining === undefined ? undefined : Math.floor(remaining)
    p.resetAt = reset === undefined ? undefined : resetToEpochMs(reset, now, format)
    p.windowMs = dialect === 'x-ratelimit' ? undefined : windowFor(limit)
    found.set(dialect, [p])
  }
  // A `RateLimit` field that is no draft-10 list may be a draft-7 Dictionary.
  if (rateLimit !== undefined && draft10.every((p) => p.remaining === undefined)) onePolicy('draft-7', readDraft7(rateLimit))
  onePolicy('draft-6', readOneFieldPerFigure('draft-6', read))
  onePolicy('x-ratelimit', readOneFieldPerFigure('x-ratelimit', read), resetFormat)

  const dialects = DIALECT_ORDER.filter((d) => found.has(d))
  const head = headline(found, dialects)
  const tierValue = read('x-ratelimit-tier')?.trim()
  const policies = head === undefined ? [] : head.dialect === 'draft-10' ? draft10 : (found.get(head.dialect) ?? [])
  return {
    limit: head?.policy.limit,
    remaining: head?.policy.remaining,
    resetAt: head?.resetAt,
    retryAfterMs: responseRetryAfter(read('retry-after'), read('date'), now),
    policies: policies.map((p) => Object.freeze({ ...p })),
    tier: tierValue === undefined || tierValue === '' ? undefined : tierValue,
    dialect: head?.dialect,
    dialects,
    at: now,
  }
}
