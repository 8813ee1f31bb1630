import { ConfigurationError, checkKnownOptions, checkOptionsObject, invalid, invalidAtRequest } from '../limiter/errors.js'
import { encodeSubject } from '../limiter/subject.js'
import { DEFAULT_IPV6_SUBNET, NOT_AN_ADDRESS, normalizeIp } from './ip.js'
import type { HttpRequestInfo } from './request.js'

/**
 * What a key function reads of a request: the part of {@link HttpRequestInfo} the key helpers
 * need, so that they can be called with just that (tests, your own code).
 * @inline
 */
export type KeyRequestPart = Pick<HttpRequestInfo, 'ip' | 'headers'>

/**
 * Returns the key a request is counted under, or `undefined` to count it under the client's IP
 * (`ip:` + the address, IPv6 grouped by `ipv6Subnet`). May return a promise.
 *
 * Keys made by the helpers ({@link apiKey}, {@link userKey}, {@link ipKey}) are prefixed by kind
 * (`key:`, `user:`, `ip:`) so different kinds of identity never share a bucket. A key you build
 * yourself is used exactly as returned: prefix it too if it can meet another kind of identity.
 */
export type KeyFunction<Req = unknown, Info extends KeyRequestPart = KeyRequestPart> = (
  req: Req,
  info: Info,
) => string | undefined | Promise<string | undefined>

/** Prefix of keys made from a client address. */
export const IP_PREFIX = 'ip:'
/** Prefix of keys made from an API key or bearer token. */
export const API_KEY_PREFIX = 'key:'
/** Prefix of keys made from a user id. */
export const USER_PREFIX = 'user:'

/** Code of the warning given the first time a client address is not an IP address. */
export const IP_NOT_AN_ADDRESS = 'RK_IP_NOT_AN_ADDRESS'

/** What a warning is told: a code and a message. */
export type KeyWarn = (code: string, message: string) => void

let warnedProcess = false
/** Without a limiter to tell, once per process. */
function warnProcess(code: string, message: string): void {
  if (warnedProcess) return
  warnedProcess = true
  process.emitWarning(message, { code })
}

/**
 * The key of a client address: `ip:` + {@link normalizeIp}. Throws `ERR_RK_INVALID_ARGUMENT`
 * when there is no address (a closed socket, or a proxy setup that yields none): such requests
 * must not share one "undefined" bucket. A value that is not an IP address is keyed
 * `ip:not-an-address` (one bucket for all such values, so a client can't make new ones) and
 * reported through `warn` (`RK_IP_NOT_AN_ADDRESS`; the value itself is never shown), or once per
 * process as a process warning when no `warn` is given.
 *
 * @example
 * ipKey('::ffff:203.0.113.7') // 'ip:203.0.113.7'
 */
export function ipKey(ip: string | undefined, ipv6Subnet: number = DEFAULT_IPV6_SUBNET, warn: KeyWarn = warnProcess): string {
  if (typeof ip !== 'string' || ip.length === 0) {
    throw new ConfigurationError(
      'ERR_RK_INVALID_ARGUMENT',
      'ratekeeper',
      'ip',
      'must be the client address, but this request has none (a closed socket, a trust-proxy setting that yields none, or a Fetch runtime without the ip option): give the adapter the address (Fetch: the ip option), or a key for every request',
      ip,
      { requestTime: true },
    )
  }
  const address = normalizeIp(ip, ipv6Subnet)
  if (address === NOT_AN_ADDRESS) {
    warn(
      IP_NOT_AN_ADDRESS,
      `ratekeeper: a client address the framework resolved is not an IP address (${ip.length} characters, not shown); ` +
        `every such request is counted in one shared bucket, "${IP_PREFIX}${NOT_AN_ADDRESS}". ` +
        'Check the trust-proxy setting and what your proxy writes in X-Forwarded-For, or pass a key function.',
    )
  }
  return IP_PREFIX + encodeSubject('ipKey()', address)
}

/**
 * {@link ipKey} for the requests of one limiter, keeping the last address's key: a client sending
 * request after request gets the very same key string, whose hash a store's map lookup then
 * computes once, not once per request.
 */
export function lastIpKey(ipv6Subnet: number, warn: KeyWarn): (ip: string) => string {
  let lastIp: string | undefined
  let lastKey = ''
  return function keyOfIp(ip: string): string {
    if (ip === lastIp) return lastKey
    lastKey = ipKey(ip, ipv6Subnet, warn)
    lastIp = ip
    return lastKey
  }
}

/** Options of {@link apiKey}. */
export interface ApiKeyOptions {
  /**
   * The request header holding the key.
   * @default 'authorization' when `bearer` is true, else 'x-api-key'
   */
  header?: string
  /**
   * Read the header as `Bearer <token>` (the scheme is case-insensitive); any other scheme counts
   * as no key.
   * @default false
   */
  bearer?: boolean
}

const API_KEY_KNOWN: { readonly [K in keyof Required<ApiKeyOptions>]: true } = { header: true, bearer: true }
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** A key part that can't be confused with another value: long values hashed, `#` escaped. */
function part(where: string, value: string): string {
  return encodeSubject(where, value)
}

/**
 * A key function that counts requests by API key: `key:` + the header's value (values longer
 * than 256 characters as their SHA-256). A request without the header (or, with `bearer`, without
 * a `Bearer` token) is counted by client IP.
 *
 * @example
 * app.use(rateLimit({ policies, key: apiKey() }))                  // X-Api-Key
 * app.use(rateLimit({ policies, key: apiKey({ bearer: true }) }))  // Authorization: Bearer …
 */
export function apiKey(options: ApiKeyOptions = {}): KeyFunction {
  const where = 'apiKey()'
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, API_KEY_KNOWN)
  if (options.bearer !== undefined && typeof options.bearer !== 'boolean') invalid(where, 'bearer', 'must be a boolean', options.bearer)
  if (options.header !== undefined && (typeof options.header !== 'string' || !HEADER_NAME.test(options.header))) {
    invalid(where, 'header', 'must be a header name', options.header)
  }
  const bearer = options.bearer ?? false
  const header = (options.header ?? (bearer ? 'authorization' : 'x-api-key')).toLowerCase()
  if (bearer) {
    return function bearerTokenKey(_req, info) {
      const value = info.headers.get(header)
      if (value === undefined || value.length < 8 || value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
      const token = value.slice(7).trim()
      return token.length === 0 ? undefined : API_KEY_PREFIX + part(where, token)
    }
  }
  return function apiKeyHeaderKey(_req, info) {
    const value = info.headers.get(header)
    return value === undefined || value.length === 0 ? undefined : API_KEY_PREFIX + part(where, value)
  }
}

/**
 * A key function that counts requests by user: `user:` + the id your function returns (for
 * example from the session your auth middleware set). `undefined`, `null` or `''` means an
 * anonymous request, counted by client IP.
 *
 * @example
 * app.use(rateLimit({ policies, key: userKey((req) => req.user?.id) }))
 */
export function userKey<Req = unknown, Info extends KeyRequestPart = KeyRequestPart>(
  getUserId: (req: Req, info: Info) => string | number | null | undefined,
): KeyFunction<Req, Info> {
  const where = 'userKey()'
  if (typeof getUserId !== 'function') invalid(where, 'getUserId', 'must be a function returning the user id', getUserId)
  return function userIdKey(req, info) {
    const id = getUserId(req, info)
    if (id === undefined || id === null || id === '') return undefined
    if (typeof id === 'number') {
      if (!Number.isFinite(id)) invalidAtRequest(where, 'user id', 'must be a string or a finite number', id, 'ERR_RK_INVALID_OPTION')
      return USER_PREFIX + String(id)
    }
    if (typeof id !== 'string') invalidAtRequest(where, 'user id', 'must be a string or a finite number', id, 'ERR_RK_INVALID_OPTION')
    return USER_PREFIX + part(where, id)
  }
}
