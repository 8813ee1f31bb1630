import { allowList } from './allow-list.js'
import { IpRanges } from './ip-ranges.js'

/**
 * Trust-proxy settings that let any client choose its IP, found once per app by the adapters.
 * The framework resolves the client address; ratekeeper only reads it. A setting that trusts
 * everyone makes that address whatever the client wrote in `X-Forwarded-For`, so each request
 * can claim a fresh IP and IP-keyed limits stop nobody.
 */

/** The code of the warning for a setting that lets any client choose its IP. */
export const TRUST_PROXY_ANY = 'RK_TRUST_PROXY_ANY'
/** The code of the warning for a setting the framework ignores (Fastify 5 and a hop count). */
export const TRUST_PROXY_IGNORED = 'RK_TRUST_PROXY_IGNORED'
/** The code of the warning for a request a proxy forwarded while the framework trusts no proxy. */
export const TRUST_PROXY_UNSET = 'RK_TRUST_PROXY_UNSET'

/**
 * The most proxies a setting may trust before it is reported: no real chain of proxies (CDN,
 * load balancer, ingress, sidecar) is longer, and a larger count works like `true`.
 */
export const MAX_TRUSTED_PROXIES = 10

/** Public addresses of both families, as a client on the Internet would have. */
const PUBLIC_IPV4 = ['8.8.8.8', '1.1.1.1', '151.101.1.69', '203.0.113.9']
const PUBLIC_IPV6 = ['2001:4860:4860::8888', '2606:4700:4700::1111', '2a00:1450:4001:82b::200e', '2c0f:fb50:4003::8a']

/** `(address, hop) => trusted`, the shape of proxy-addr's compiled settings (Express, Fastify). */
export type TrustFunction = (address: string, hop: number) => unknown

/**
 * Whether `trust` trusts every public address of one family (IPv4 or IPv6) at hop
 * {@link MAX_TRUSTED_PROXIES}: a function that trusts everyone, a huge hop count, or address
 * ranges that cover a whole family. A function that throws is taken as not trusting.
 */
export function trustsEveryone(trust: TrustFunction): boolean {
  const all = (addresses: readonly string[]) =>
    addresses.every((address) => {
      try {
        return Boolean(trust(address, MAX_TRUSTED_PROXIES))
      } catch {
        return false
      }
    })
  return all(PUBLIC_IPV4) || all(PUBLIC_IPV6)
}

/**
 * Whether a list of addresses and CIDR ranges (`'10.0.0.0/8, ::1'`, or an array) covers every
 * public address of one family. Entries ratekeeper can't read (names such as `'loopback'`) are
 * skipped: they name private ranges.
 */
export function rangesTrustEveryone(entries: string | readonly unknown[]): boolean {
  const list = typeof entries === 'string' ? entries.split(',') : entries
  const matchers: ((ip: string) => boolean)[] = []
  for (const entry of list) {
    if (typeof entry !== 'string') continue
    try {
      const listed = allowList([entry.trim()])
      matchers.push((ip) => listed(undefined, { ip }))
    } catch {
      // not an address or range
    }
  }
  return trustsEveryone((address) => matchers.some((m) => m(address)))
}

/** The warning for a setting that lets any client choose its IP. */
export function trustProxyAnyMessage(setting: string): string {
  return (
    `ratekeeper: ${setting} lets any client choose its IP (X-Forwarded-For) and escape IP-keyed limits; ` +
    `set the number of proxies in front of the app (at most ${MAX_TRUSTED_PROXIES}) or their addresses`
  )
}

/**
 * How to name a framework's trust-proxy setting in the {@link TRUST_PROXY_ANY} warning when it
 * lets any client choose its IP (`true`, more than {@link MAX_TRUSTED_PROXIES} hops, a function
 * that trusts everyone, ranges covering every address), or `undefined` when it doesn't.
 */
export function permissiveTrustSetting(setting: unknown): string | undefined {
  if (setting === true) return JSON.stringify(setting)
  if (typeof setting === 'number')
    return setting > MAX_TRUSTED_PROXIES ? `${setting} (more than ${MAX_TRUSTED_PROXIES} proxies)` : undefined
  if (typeof setting === 'function') return trustsEveryone(setting as TrustFunction) ? 'a function that trusts every address' : undefined
  if (typeof setting === 'string' || Array.isArray(setting)) return rangesTrustEveryone(setting) ? JSON.stringify(setting) : undefined
  return undefined
}

/** A warning a trust-proxy setting calls for: its code and message. */
export interface TrustProxyWarning {
  readonly code: string
  readonly message: string
}

/**
 * The warning a framework's trust-proxy setting calls for, if any. `name` names the setting in the
 * message (`Fastify trustProxy`); `hopCountIgnoredBy` names the framework release when it ignores
 * a hop count (`Fastify 5`): `request.ip` then stays the proxy's address for everyone.
 */
export function trustProxyWarning(name: string, setting: unknown, hopCountIgnoredBy?: string): TrustProxyWarning | undefined {
  if (typeof setting === 'number' && hopCountIgnoredBy !== undefined) {
    return {
      code: TRUST_PROXY_IGNORED,
      message: `ratekeeper: ${hopCountIgnoredBy} ignores a numeric trustProxy (${setting}): request.ip is the address of the proxy in front of the app, so every client shares one IP bucket; set trustProxy to the proxies' addresses instead`,
    }
  }
  const described = permissiveTrustSetting(setting)
  return described === undefined ? undefined : { code: TRUST_PROXY_ANY, message: trustProxyAnyMessage(`${name} ${described}`) }
}

/** Where the proxies in front of an app connect from: loopback, private, shared (CGNAT) and link-local ranges. */
const PROXY_PEER_RANGES = [
  '127.0.0.0/8',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
]
let proxyPeers: IpRanges | undefined

/**
 * Whether a request looks forwarded by a proxy while the framework trusts none: it carries
 * `X-Forwarded-For` or `Forwarded` and its peer is a loopback or private address. Every client
 * then has that proxy's address and shares one IP bucket. A client on the Internet that writes the
 * header itself has a public address, so it can't make an app report this. Reads the peer only
 * when a header is there.
 */
export function forwardedByUntrustedProxy(peer: string | undefined, headers: Readonly<Record<string, unknown>>): boolean {
  if (headers['x-forwarded-for'] === undefined && headers.forwarded === undefined) return false
  proxyPeers ??= new IpRanges(PROXY_PEER_RANGES, 'forwardedByUntrustedProxy()')
  return proxyPeers.has(peer)
}

/** The {@link TRUST_PROXY_UNSET} warning; `setting` names the framework's setting (`Express 'trust proxy'`). */
export function trustProxyUnsetMessage(setting: string): string {
  return (
    `ratekeeper: requests reach the app through a proxy (X-Forwarded-For or Forwarded from a private address) but ${setting} is off: ` +
    "every client has the proxy's address and shares one IP bucket; set it to the number of proxies in front of the app or their addresses (docs/security.md)"
  )
}

/** A check of each request for one that a proxy forwarded (see {@link forwardedRequestWatch}). */
export type ForwardedRequestWatch = (peer: string | undefined, headers: Readonly<Record<string, unknown>>) => void

/**
 * For an app that trusts no proxy: reports the first request a proxy forwarded (see
 * {@link forwardedByUntrustedProxy}) as {@link TRUST_PROXY_UNSET}, once per `app` through `warn`;
 * after that a call costs one test.
 */
export function forwardedRequestWatch(
  setting: string,
  warn: (code: string, message: string, app?: object) => void,
  app: object | undefined,
): ForwardedRequestWatch {
  let reported = false
  return function watchForwarded(peer, headers) {
    if (reported || !forwardedByUntrustedProxy(peer, headers)) return
    reported = true
    warn(TRUST_PROXY_UNSET, trustProxyUnsetMessage(setting), app)
  }
}

/**
 * Checks a framework's trust-proxy setting, once per app: reports one that lets any client choose
 * its IP or that the framework ignores (see {@link trustProxyWarning}); when it is off (`undefined`
 * or `false`), returns the watch for requests a proxy forwarded ({@link forwardedRequestWatch}).
 */
export function checkTrustSetting(
  name: string,
  setting: unknown,
  hopCountIgnoredBy: string | undefined,
  warn: (code: string, message: string, app?: object) => void,
  app: object | undefined,
): ForwardedRequestWatch | undefined {
  const warning = trustProxyWarning(name, setting, hopCountIgnoredBy)
  if (warning !== undefined) warn(warning.code, warning.message, app)
  return setting === undefined || setting === false ? forwardedRequestWatch(name, warn, app) : undefined
}
