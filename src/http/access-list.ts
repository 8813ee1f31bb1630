// Allow and deny lists of the HTTP options: addresses and CIDR ranges, keys, and a dynamic match.
import { checkKnownOptions, checkOptionsObject, invalid, invalidAtRequest } from '../limiter/errors.js'
import { isThenable } from '../limiter/thenable.js'
import { JSON_TYPE, PROBLEM_JSON, safe, TEXT_TYPE } from './bodies.js'
import { NOT_AN_ADDRESS, normalizeIp } from './ip.js'
import { IpRanges } from './ip-ranges.js'
import type { HttpOutcome, HttpRequestInfo } from './request.js'

/** What a list entry is matched against: the client address, or the subject key. */
export type ListKind = 'ip' | 'key'

/**
 * A dynamic list: whether `subject` is listed. For `'ip'`, `subject` is the client address in
 * canonical form (`203.0.113.7`, `2001:db8::1`: IPv4-mapped read as IPv4, a port dropped); for
 * `'key'`, the subject key as the `key` function (or the plan) returned it (`key:sk_live_…`).
 * May answer with a promise; wrap it in `cachedList()` (`ratekeeper/provider`) to cache answers.
 */
export type ListMatch = (subject: string, kind: ListKind, req: HttpRequestInfo) => boolean | Promise<boolean>

/** What an allow or deny list holds. Every part is optional; a request is listed when any part lists it. */
export interface AccessListOptions {
  /** Client addresses and CIDR ranges, IPv4 or IPv6 (`'10.0.0.0/8'`, `'2001:db8::/32'`, `'::1'`). */
  ips?: readonly string[]
  /** Subject keys, exactly as the `key` function returns them (`'key:sk_live_…'`, `'user:42'`). */
  keys?: readonly string[]
  /** A dynamic list, asked for the client address, then for the key. */
  match?: ListMatch
}

/** An allow or deny list, validated once (see {@link accessList}). */
export interface AccessList {
  /** Whether the request's client address is listed. */
  hasIp(req: HttpRequestInfo): boolean | Promise<boolean>
  /** Whether the subject key is listed. */
  hasKey(key: string, req: HttpRequestInfo): boolean | Promise<boolean>
  /** Whether keys are ever asked about (a `keys` list or a `match` function). */
  readonly byKey: boolean
}

const KNOWN: { readonly [K in keyof Required<AccessListOptions>]: true } = { ips: true, keys: true, match: true }

/** The canonical text of a client address for a `match` function, or `undefined` for text that is no address. */
function canonicalIp(ip: string | undefined): string | undefined {
  if (ip === undefined || ip.length === 0) return undefined
  const key = normalizeIp(ip, 128)
  if (key === NOT_AN_ADDRESS) return undefined
  return key.endsWith('/128') ? key.slice(0, -4) : key
}

/** Checks what a `match` function answered. */
function listed(where: string, answer: unknown): boolean {
  if (typeof answer !== 'boolean') invalidAtRequest(where, 'match', 'must return a boolean or a promise of one', answer)
  return answer
}

/**
 * An allow or deny list for the HTTP options `allow` and `deny`: addresses and CIDR ranges
 * (matched in O(prefix length), however many), keys, and a dynamic `match` function (sync or
 * async; cache it with `cachedList()`). A bare array is a list of addresses and ranges. The HTTP
 * options also take the options object itself; `accessList` lets several middlewares share one.
 *
 * @example
 * const deny = accessList({ ips: ['203.0.113.0/24'], keys: ['key:sk_live_revoked'] })
 */
export function accessList(options: readonly string[] | AccessListOptions): AccessList {
  return compileList(options, 'accessList()', '')
}

/**
 * A deny list for the `deny` option, beside `allowList` for `allow` (or `skip`): addresses and
 * CIDR ranges, IPv4 or IPv6, or the same options object as {@link accessList} (keys, a `match`
 * function). Deny always wins over allow.
 *
 * @example
 * app.use(rateLimit({ policies, deny: denyList(['203.0.113.0/24', '2001:db8:bad::/48']) }))
 */
export function denyList(entries: readonly string[] | AccessListOptions): AccessList {
  return compileList(entries, 'denyList()', '')
}

/** {@link accessList}, its errors naming `where` and the options under `option` (`deny.ips[2]`). */
function compileList(options: readonly string[] | AccessListOptions, where: string, option: string): AccessList {
  const spec: AccessListOptions = Array.isArray(options) ? { ips: options as readonly string[] } : (options as AccessListOptions)
  const path = (name: string) => (option === '' ? name : `${option}.${name}`)
  if (!Array.isArray(options)) {
    checkOptionsObject(where, options)
    checkKnownOptions(where, options, KNOWN)
  }
  const ranges = spec.ips === undefined ? undefined : new IpRanges(spec.ips, where, path('ips'))
  let keys: ReadonlySet<string> | undefined
  if (spec.keys !== undefined) {
    if (!Array.isArray(spec.keys)) invalid(where, path('keys'), 'must be an array of keys', spec.keys)
    spec.keys.forEach((key, i) => {
      if (typeof key !== 'string' || key.length === 0) invalid(where, `${path('keys')}[${i}]`, 'must be a non-empty string', key)
    })
    keys = new Set(spec.keys)
  }
  const match = spec.match
  if (match !== undefined && typeof match !== 'function')
    invalid(where, path('match'), 'must be a function (subject, kind, req) => boolean', match)
  const check = (answer: boolean | Promise<boolean>) => (isThenable(answer) ? answer.then((a) => listed(where, a)) : listed(where, answer))

  return {
    byKey: keys !== undefined || match !== undefined,
    hasIp(req) {
      if (ranges?.has(req.ip) === true) return true
      if (match === undefined) return false
      const ip = canonicalIp(req.ip)
      return ip === undefined ? false : check(match(ip, 'ip', req))
    },
    hasKey(key, req) {
      if (keys?.has(key) === true) return true
      return match === undefined ? false : check(match(key, 'key', req))
    },
  }
}

/** Whether `value` is a list made by {@link accessList}, {@link denyList} or `allowList` (a function that is a list too). */
function isAccessList(value: unknown): value is AccessList {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as AccessList).hasIp === 'function'
}

/** The list of an `allow` / `deny` option: an {@link AccessList}, or what {@link accessList} takes (its errors under `where`). */
export function listOption(where: string, name: string, value: unknown): AccessList | undefined {
  if (value === undefined || isAccessList(value)) return value
  if (typeof value !== 'object' || value === null)
    invalid(where, name, 'must be accessList(), an options object or an array of addresses', value)
  return compileList(value as AccessListOptions, where, name)
}

/** What a custom deny body formatter receives besides the request. */
export interface DeniedContext {
  /** The status the response carries. */
  readonly status: number
  /** What was listed: the client address or the key. */
  readonly listed: ListKind
}

/** How a deny-listed request is answered. */
export interface DeniedOptions {
  /** Status of the answer (400-599). @default 403 */
  status?: number
  /**
   * The body: a function of the request returning what to send (JSON as `application/json`, a
   * string as `text/plain`). @default an RFC 9457 problem (`application/problem+json`)
   */
  body?: (req: HttpRequestInfo, context: DeniedContext) => unknown
}

const DENIED_KNOWN: { readonly [K in keyof Required<DeniedOptions>]: true } = { status: true, body: true }
const EMPTY: Readonly<Record<string, string>> = Object.freeze({})
const TITLES: Readonly<Record<number, string>> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  451: 'Unavailable For Legal Reasons',
}

/** The problem type of the default deny body. */
export const ACCESS_DENIED_TYPE = 'about:blank'

/** Checks the `denied` option and returns the function answering a deny-listed request. */
export function deniedResponder(
  where: string,
  value: DeniedOptions | undefined,
  requestIdOf: (req: HttpRequestInfo) => string | undefined,
): (req: HttpRequestInfo, kind: ListKind) => HttpOutcome {
  if (value !== undefined) {
    checkOptionsObject(`${where} denied`, value)
    checkKnownOptions(`${where} denied`, value, DENIED_KNOWN)
    if (value.status !== undefined && (!Number.isInteger(value.status) || value.status < 400 || value.status > 599)) {
      invalid(where, 'denied.status', 'must be an integer from 400 to 599', value.status)
    }
    if (value.body !== undefined && typeof value.body !== 'function') invalid(where, 'denied.body', 'must be a function', value.body)
  }
  const status = value?.status ?? 403
  const format = value?.body
  const title = TITLES[status] ?? 'Request denied'
  const head = `{"type":"${ACCESS_DENIED_TYPE}","title":${JSON.stringify(title)},"status":${status},"detail":"This client may not use this service."`
  return (req, kind) => {
    if (format === undefined) {
      const id = safe(where, 'requestId', requestIdOf(req), 200)
      const body = id === undefined ? `${head}}` : `${head},"request-id":${JSON.stringify(id)}}`
      return { action: 'respond', status, headers: EMPTY, body, contentType: PROBLEM_JSON }
    }
    const out = format(req, { status, listed: kind })
    const text = typeof out === 'string'
    return { action: 'respond', status, headers: EMPTY, body: text ? out : JSON.stringify(out), contentType: text ? TEXT_TYPE : JSON_TYPE }
  }
}
