import { API_KEY_PREFIX } from '../http/keys.js'
import { checkKnownOptions, checkOptionsObject, invalid, RateKeeperError } from '../limiter/errors.js'
import { checkOptionalName, isRecord } from './guards.js'
import type { KeyResolver } from './lookup.js'

/** Options of {@link tierByPrefix}. */
export interface TierByPrefixOptions {
  /**
   * The tier of keys that match no prefix (e.g. `'anonymous'` for requests counted by IP).
   * Without it such a request fails with `ERR_RK_LOOKUP` (the framework's error handling: a 500),
   * rather than silently getting some tier.
   */
  otherwise?: string
}

const WHERE = 'tierByPrefix()'
const KNOWN: { readonly [K in keyof Required<TierByPrefixOptions>]: true } = { otherwise: true }

/**
 * A tier resolver that reads the tier from the key's prefix, e.g. skakio's `pk_` (public keys)
 * and `sk_` (secret keys). The longest matching prefix wins. A `key:` kind prefix (as the
 * `apiKey()` helper adds) is looked past, so `'pk_'` matches `key:pk_live_123`. Synchronous: it
 * costs the request no promise.
 *
 * @example
 * tierByPrefix({ pk_: 'public_key', sk_: 'secret_key' }, { otherwise: 'anonymous' })
 */
export function tierByPrefix(prefixes: Readonly<Record<string, string>>, options: TierByPrefixOptions = {}): KeyResolver {
  if (!isRecord(prefixes)) {
    invalid(WHERE, 'prefixes', "must be an object of key prefix → tier name, e.g. { pk_: 'public_key' }", prefixes)
  }
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const list: Array<readonly [string, string]> = []
  for (const [prefix, tier] of Object.entries(prefixes)) {
    if (prefix.length === 0) invalid(WHERE, 'prefixes', 'must not hold an empty prefix (use `otherwise`)', prefix)
    if (typeof tier !== 'string' || tier.length === 0) invalid(WHERE, `prefixes.${prefix}`, 'must be a tier name', tier)
    list.push([prefix, tier])
  }
  if (list.length === 0) invalid(WHERE, 'prefixes', 'must hold at least one prefix', prefixes)
  list.sort((a, b) => b[0].length - a[0].length)
  const otherwise = checkOptionalName(WHERE, 'otherwise', 'must be a tier name', options.otherwise)
  return function tierFromKeyPrefix(key: string): string {
    const at = key.startsWith(API_KEY_PREFIX) ? API_KEY_PREFIX.length : 0
    for (let i = 0; i < list.length; i++) if (key.startsWith(list[i][0], at)) return list[i][1]
    if (otherwise !== undefined) return otherwise
    // The key is never echoed: it is a credential.
    throw new RateKeeperError('ERR_RK_LOOKUP', `${WHERE}: the key matches no tier prefix and no \`otherwise\` tier is set`)
  }
}
