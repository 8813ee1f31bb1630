import { checkKnownOptions, invalid } from '../limiter/errors.js'
import { type FieldMember, type FieldValue, MAX_FIELD_LENGTH, MAX_MEMBERS, readMembers } from './field-list.js'
import { parseRetryAfter } from './retry-after.js'

/** A family of rate-limit headers. */
export type RateLimitDialect =
  /** IETF draft-ietf-httpapi-ratelimit-headers-10: `RateLimit` + `RateLimit-Policy` structured-field lists. */
  | 'draft-10'
  /** IETF draft 7: `RateLimit: limit=100, remaining=50, reset=5` (a Dictionary). */
  | 'draft-7'
  /** IETF draft 6: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`. */
  | 'draft-6'
  /** The conventional `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`. */
  | 'x-ratelimit'

/**
 * How to read `X-RateLimit-Reset`, which has no specification: most APIs (GitHub, every seed) send
 * Unix epoch seconds, some (Fastify) send seconds from now, a few epoch milliseconds.
 * - `'auto'` (the default): a value of at least 1e11 is epoch ms, at least 1e9 epoch seconds
 *   (1e9 s is the year 2001, and no window lasts 31 years), anything smaller seconds from now;
 * - the other values force one reading.
 */
export type ResetFormat = 'auto' | 'epoch-seconds' | 'epoch-ms' | 'delta-seconds'

/** One policy (quota) the server reported. Absent figures are `undefined`. */
export interface RateLimitPolicyInfo {
  /** The policy's name (draft-10 only). */
  readonly name: string | undefined
  /** The header family it was read from. */
  readonly dialect: RateLimitDialect
  /** Quota per window (`q`, `limit`). */
  readonly limit: number | undefined
  /** Quota left (`r`, `remaining`). */
  readonly remaining: number | undefined
  /** Epoch ms when more quota becomes available (`t`, `reset`). */
  readonly resetAt: number | undefined
  /** Window length in ms (`w`). */
  readonly windowMs: number | undefined
  /** Quota unit (draft-10 `qu`: `requests`, `content-bytes`, `concurrent-requests`). */
  readonly unit: string | undefined
  /** Partition key (draft-10 `pk`), base64. */
  readonly partitionKey: string | undefined
}

/**
 * Everything a response said about rate limits, normalised whatever the dialect. Absent figures
 * are `undefined`, never guessed.
 */
export interface RateLimitInfo {
  /** The headline policy's quota per window. */
  readonly limit: number | undefined
  /** The headline policy's quota left: the fewest left of all policies reported. */
  readonly remaining: number | undefined
  /**
   * Epoch ms when the headline policy makes more quota available: the window's reset
   * (`X-RateLimit-Reset`, draft 6/7 `reset`) or the draft-10 `t` (for a token bucket, the next unit).
   */
  readonly resetAt: number | undefined
  /** `Retry-After` in ms (delay-seconds or an HTTP-date, measured from `at`). */
  readonly retryAfterMs: number | undefined
  /** Every policy reported: each draft-10 list member, else the one policy of the headline's dialect. */
  readonly policies: readonly RateLimitPolicyInfo[]
  /** `X-RateLimit-Tier` (skakio's `public_key` / `secret_key`). */
  readonly tier: string | undefined
  /** The dialect the headline figures come from (draft-10 first, then 7, 6, `X-RateLimit-*`). */
  readonly dialect: RateLimitDialect | undefined
  /** Every dialect found in the headers. */
  readonly dialects: readonly RateLimitDialect[]
  /** The clock reading (epoch ms) that relative values were converted with. */
  readonly at: number
}

/** Options of {@link parseRateLimitHeaders}. */
export interface ParseRateLimitOptions {
  /** The time the response was received, epoch ms, for relative values. @default Date.now() */
  now?: number
  /** How to read `X-RateLimit-Reset`. @default 'auto' */
  xRateLimitReset?: ResetFormat
}

/**
 * Headers to read: a Fetch `Headers`, anything with a case-insensitive `get(name)`, a Node
 * `IncomingHttpHeaders`-like object (names in any case, values strings or arrays), or name/value pairs.
 */
export type HeadersLike =
  | Headers
  | { get(name: string): string | null | undefined }
  | Readonly<Record<string, string | readonly string[] | number | undefined>>
  | Iterable<readonly [string, string]>

const WHERE = 'parseRateLimitHeaders()'
const KNOWN: { readonly [K in keyof Required<ParseRateLimitOptions>]: true } = { now: true, xRateLimitReset: true }
const RESET_FORMATS: readonly unknown[] = ['auto', 'epoch-seconds', 'epoch-ms', 'delta-seconds']
/** Ignore figures beyond this: no real quota or delay is this large, and it keeps arithmetic exact. */
const MAX_FIGURE = 1e15
/** One member of a comma-joined numeric field: a number, optionally followed by parameters (`100;w=60`). */
const MEMBER_NUMBER = /^[ \t]*(-?\d{1,16}(?:\.\d{1,6})?)[ \t]*(?:;|$)/
const DRAFT7_PAIR = /^[ \t]*([A-Za-z]+)[ \t]*=[ \t]*(-?\d{1,16}(?:\.\d{1,6})?)[ \t]*(?:;[^,]*)?$/
const DIALECT_ORDER: readonly RateLimitDialect[] = ['draft-10', 'draft-7', 'draft-6', 'x-ratelimit']

type Lookup = (lowercaseName: string) => string | undefined

/** Turns any supported headers shape into a lookup by lowercase name; throws only for a non-object. */
function toLookup(headers: HeadersLike): Lookup {
  if (typeof headers !== 'object' || headers === null) {
    throw invalid(WHERE, 'headers', 'must be a Headers object, a headers record or name/value pairs', headers)
  }
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    return (name) => headers.get(name) ?? undefined
  }
  if (!(headers instanceof Map) && typeof (headers as { get?: unknown }).get === 'function') {
    const source = headers as { get(name: string): string | null | undefined }
    return (name) => {
      const v = source.get(name)
      return typeof v === 'string' ? v : undefined
    }
  }
  const map = new Map<string, string>()
  const add = (name: unknown, value: unknown): void => {
    if (typeof name !== 'string') return
    let text: string | undefined
    if (typeof value === 'string') text = value
    else if (typeof value === 'number') text = String(value)
    else if (Array.isArray(value)) text = value.filter((v) => typeof v === 'string').join(', ')
    if (text === undefined) return
    const key = name.toLowerCase()
    const prev = map.get(key)
    map.set(key, prev === undefined ? text : `${prev}, ${text}`)
  }
  if (Symbol.iterator in headers && typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const entry of headers as Iterable<unknown>) {
      if (Array.isArray(entry)) add(entry[0], entry[1])
    }
  } else {
    for (const name of Object.keys(headers)) add(name, (headers as Record<string, unknown>)[name])
  }
  return (name) => map.get(name)
}

/**
 * A non-negative number of a legacy field (`"100"`, `"100, 100;w=60"`, `"1707480060.5"`); negatives
 * read as 0. A field sent twice arrives comma-joined (a gateway and the app each send one, `"5, 0"`):
 * `strictest` picks among the members (the fewest remaining, the latest reset, the smallest limit).
 * Malformed members are skipped; at most {@link MAX_MEMBERS} are looked at, in one pass, no exceptions.
 */
function legacyNumber(value: string | undefined, strictest: (a: number, b: number) => number): number | undefined {
  if (value === undefined) return undefined
  let out: number | undefined
  for (const part of value.split(',', MAX_MEMBERS)) {
    const m = MEMBER_NUMBER.exec(part)
    if (m === null) continue
    const n = Number(m[1])
    if (!Number.isFinite(n) || n > MAX_FIGURE) continue
    const v = Math.max(n, 0)
    out = out === undefined ? v : strictest(out, v)
  }
  return out
}
const fewest = (a: number, b: number): number => Math.min(a, b)
const latest = (a: number, b: number): number => Math.max(a, b)

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

/** The members of a List field, read leniently: a malformed member (or field) is skipped, never thrown. */
function tolerantList(value: string): FieldMember[] {
  return readMembers(value).members
}

/** A non-negative number parameter (Integer, or tolerated Decimal), else `undefined`. */
function numberParam(params: ReadonlyMap<string, FieldValue>, name: string): number | undefined {
  const item = params.get(name)
  if (item === undefined || (item.type !== 'integer' && item.type !== 'decimal')) return undefined
  return item.value >= 0 && item.value <= MAX_FIGURE ? item.value : undefined
}

/** A remaining (`r`): an Integer or Decimal, a negative one read as 0 (nothing left), else `undefined`. */
function remainingParam(params: ReadonlyMap<string, FieldValue>): number | undefined {
  const item = params.get('r')
  if (item === undefined || (item.type !== 'integer' && item.type !== 'decimal')) return undefined
  return item.value >= -MAX_FIGURE && item.value <= MAX_FIGURE ? Math.max(item.value, 0) : undefined
}

function nameOf(item: FieldValue): string | undefined {
  return item.type === 'string' || item.type === 'token' ? item.value : undefined
}

interface MutablePolicy {
  name: string | undefined
  dialect: RateLimitDialect
  limit: number | undefined
  remaining: number | undefined
  resetAt: number | undefined
  windowMs: number | undefined
  unit: string | undefined
  partitionKey: string | undefined
}

const blank = (dialect: RateLimitDialect, name?: string): MutablePolicy => ({
  name,
  dialect,
  limit: undefined,
  remaining: undefined,
  resetAt: undefined,
  windowMs: undefined,
  unit: undefined,
  partitionKey: undefined,
})

/**
 * draft-10: the members of `RateLimit` and `RateLimit-Policy` whose value is a policy name, joined by
 * name. A partition key (`pk`) tells two policies of one name apart only when both members carry
 * one: express-rate-limit's draft-8 mode sends `pk` in `RateLimit-Policy` alone. A name repeated
 * in one field keeps the strictest member: the fewest remaining (then the longest wait), the
 * smallest quota.
 */
function readDraft10(state: FieldMember[], policy: FieldMember[], now: number): MutablePolicy[] {
  const all: MutablePolicy[] = []
  const byName = new Map<string, MutablePolicy[]>()
  const entry = (member: FieldMember): MutablePolicy | undefined => {
    const name = nameOf(member.value)
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
      p = blank('draft-10', name)
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
    const w = numberParam(member.params, 'w')
    p.windowMs = w !== undefined && w > 0 ? Math.round(w * 1000) : undefined
    const qu = member.params.get('qu')
    p.unit = qu !== undefined && (qu.type === 'string' || qu.type === 'token') ? qu.value : undefined
  }
  for (const member of state) {
    const r = remainingParam(member.params)
    if (r === undefined) continue
    const p = entry(member)
    if (p === undefined) continue
    const remaining = Math.floor(r)
    const t = numberParam(member.params, 't')
    const resetAt = t === undefined ? undefined : now + Math.ceil(t * 1000)
    if (p.remaining !== undefined && (remaining > p.remaining || (remaining === p.remaining && (resetAt ?? -1) <= (p.resetAt ?? -1))))
      continue
    p.remaining = remaining
    p.resetAt = resetAt
  }
  return all
}

/** draft 6/7 `RateLimit-Policy: 100;w=60, 1000;w=86400`: quota and window pairs. */
function readOldPolicies(policy: FieldMember[]): { limit: number; windowMs: number | undefined }[] {
  const out: { limit: number; windowMs: number | undefined }[] = []
  for (const member of policy) {
    if (member.value.type !== 'integer' && member.value.type !== 'decimal') continue
    const limit = member.value.value
    if (limit < 0 || limit > MAX_FIGURE) continue
    const w = numberParam(member.params, 'w')
    out.push({ limit, windowMs: w !== undefined && w > 0 ? Math.round(w * 1000) : undefined })
  }
  return out
}

/**
 * draft 7 `RateLimit: limit=100, remaining=50, reset=5` (a Dictionary), read pair by pair without
 * exceptions, at most {@link MAX_MEMBERS} pairs, so that a malformed field costs one pass.
 */
function readDraft7(value: string): { limit?: number; remaining?: number; reset?: number } | undefined {
  if (value.length > MAX_FIELD_LENGTH) return undefined
  const out: { limit?: number; remaining?: number; reset?: number } = {}
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
    out[key] = prev === undefined ? n : key === 'reset' ? Math.max(prev, n) : Math.min(prev, n)
    found = true
  }
  return found ? out : undefined
}

/** The policy with the fewest remaining (ties: the one that waits longest), among those reporting a remaining. */
function headlineOf(list: readonly MutablePolicy[]): MutablePolicy | undefined {
  let best: MutablePolicy | undefined
  for (const p of list) {
    if (p.remaining === undefined) continue
    if (
      best === undefined ||
      best.remaining === undefined ||
      p.remaining < best.remaining ||
      (p.remaining === best.remaining && (p.resetAt ?? -1) > (best.resetAt ?? -1))
    ) {
      best = p
    }
  }
  return best
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
  const get = toLookup(headers)
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

  // IETF draft 10 (and tolerant of tokens as names, as in drafts 8-9).
  const draft10 = readDraft10(rateLimit === undefined ? [] : tolerantList(rateLimit), policyList, now)
  if (draft10.length > 0) found.set('draft-10', draft10)

  const oldPolicies = readOldPolicies(policyList)
  const windowFor = (limit: number | undefined): number | undefined => {
    if (oldPolicies.length === 0) return undefined
    return (oldPolicies.find((p) => p.limit === limit) ?? oldPolicies[0]).windowMs
  }
  const single = (dialect: RateLimitDialect, limit?: number, remaining?: number, reset?: number, format: ResetFormat = 'auto'): void => {
    if (limit === undefined && remaining === undefined && reset === undefined) return
    const p = blank(dialect)
    p.limit = limit
    p.remaining = remaining === undefined ? undefined : Math.floor(remaining)
    p.resetAt = reset === undefined ? undefined : resetToEpochMs(reset, now, format)
    p.windowMs = dialect === 'x-ratelimit' ? undefined : windowFor(limit)
    found.set(dialect, [p])
  }

  // IETF draft 7: a Dictionary in `RateLimit`.
  if (rateLimit !== undefined && draft10.every((p) => p.remaining === undefined)) {
    const d7 = readDraft7(rateLimit)
    if (d7 !== undefined) single('draft-7', d7.limit, d7.remaining, d7.reset)
  }

  // IETF draft 6: one field per figure.
  single(
    'draft-6',
    legacyNumber(read('ratelimit-limit'), fewest),
    legacyNumber(read('ratelimit-remaining'), fewest),
    legacyNumber(read('ratelimit-reset'), latest),
  )

  // Conventional headers (and the `X-Rate-Limit-*` spelling some APIs use).
  single(
    'x-ratelimit',
    legacyNumber(read('x-ratelimit-limit') ?? read('x-rate-limit-limit'), fewest),
    legacyNumber(read('x-ratelimit-remaining') ?? read('x-rate-limit-remaining'), fewest),
    legacyNumber(read('x-ratelimit-reset') ?? read('x-rate-limit-reset'), latest),
    resetFormat,
  )

  const dialects = DIALECT_ORDER.filter((d) => found.has(d))
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
  let resetAt = head?.resetAt
  if (head !== undefined && resetAt === undefined && head.remaining !== undefined) {
    // draft 10 omits `t` for a policy that has nothing more to come; another dialect saying the same remaining may know a reset.
    for (const d of dialects) {
      const other = headlineOf(found.get(d) ?? [])
      if (other !== undefined && other.remaining === head.remaining && other.resetAt !== undefined) {
        resetAt = other.resetAt
        break
      }
    }
  }

  const tierValue = read('x-ratelimit-tier')?.trim()
  const policies = headDialect === undefined ? [] : headDialect === 'draft-10' ? draft10 : (found.get(headDialect) ?? [])
  return {
    limit: head?.limit,
    remaining: head?.remaining,
    resetAt,
    retryAfterMs: parseRetryAfter(read('retry-after'), now),
    policies: policies.map((p) => Object.freeze({ ...p })),
    tier: tierValue === undefined || tierValue === '' ? undefined : tierValue,
    dialect: headDialect,
    dialects,
    at: now,
  }
}
