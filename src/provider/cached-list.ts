// cachedList(): a dynamic allow / deny list (a database, a Redis set) behind the cached-lookup machinery.
import type { ListKind, ListMatch } from '../http/access-list.js'
import { renameError } from '../http/http-options.js'
import type { HttpRequestInfo } from '../http/request.js'
import { checkOptionsObject, invalid, RateKeeperError } from '../limiter/errors.js'
import { isThenable } from '../limiter/thenable.js'
import { type CachedLookupOptions, cachedLookup } from './lookup.js'

/** Options of {@link cachedList}: those of `cachedLookup`, with a yes/no `fallback`. */
export interface CachedListOptions extends Omit<CachedLookupOptions, 'fallback'> {
  /**
   * The answer when the lookup fails or times out (not cached: the next request asks again):
   * `false` fails open, `true` fails closed. Without it the failure reaches the request
   * (`ERR_RK_LOOKUP`, the framework's error handling: a 500).
   */
  fallback?: boolean
}

/** A {@link ListMatch} with a bounded cache in front. Answers synchronously on a cache hit. */
export interface CachedList extends ListMatch {
  /** Forgets one subject (of one kind, or both), or everything: e.g. right after you unlisted it. */
  clear(subject?: string, kind?: ListKind): void
  /** Answers cached now. */
  readonly size: number
}

const WHERE = 'cachedList()'
const LISTED = 'listed'
const UNLISTED = 'unlisted'
const PREFIX: Readonly<Record<ListKind, string>> = { ip: 'i:', key: 'k:' }

function answer(value: unknown): string {
  if (typeof value !== 'boolean')
    throw new RateKeeperError('ERR_RK_LOOKUP', `${WHERE}: the list must answer a boolean, received ${typeof value}`)
  return value ? LISTED : UNLISTED
}

/**
 * Puts `cachedLookup`'s bounded cache in front of a list you keep elsewhere (a table of banned
 * accounts, a Redis set): each subject (an address, a key) is asked at most once per `ttl`,
 * concurrent asks share one call, a call that does not settle within `timeout` fails, a failure
 * is never cached and answers `fallback` when given. Pass it as `match` of an allow or deny list.
 *
 * @example
 * const banned = cachedList(async (subject, kind) => (await redis.sismember(`banned:${kind}`, subject)) === 1, {
 *   ttl: '30s', fallback: false,
 * })
 * app.use(rateLimit({ policies, deny: { match: banned } }))
 */
export function cachedList(match: ListMatch, options: CachedListOptions = {}): CachedList {
  if (typeof match !== 'function') invalid(WHERE, 'match', 'must be a function (subject, kind, req) => boolean | Promise<boolean>', match)
  checkOptionsObject(WHERE, options)
  const { fallback, ...rest } = options
  if (fallback !== undefined && typeof fallback !== 'boolean') invalid(WHERE, 'fallback', 'must be a boolean', fallback)
  let lookup: ReturnType<typeof cachedLookup>
  try {
    lookup = cachedLookup(
      (cacheKey, req) => {
        const kind: ListKind = cacheKey.charCodeAt(0) === 105 /* i */ ? 'ip' : 'key'
        const value = match(cacheKey.slice(2), kind, req as HttpRequestInfo)
        return isThenable(value) ? Promise.resolve(value).then(answer) : answer(value)
      },
      { ...rest, ...(fallback === undefined ? {} : { fallback: fallback ? LISTED : UNLISTED }) },
    )
  } catch (error) {
    throw renameError(error, WHERE, '')
  }
  const list = (subject: string, kind: ListKind, req: HttpRequestInfo): boolean | Promise<boolean> => {
    const value = lookup(PREFIX[kind] + subject, req)
    return isThenable(value) ? value.then((v) => v === LISTED) : value === LISTED
  }
  return Object.defineProperties(list, {
    clear: {
      value: (subject?: string, kind?: ListKind) => {
        if (subject === undefined) return lookup.clear()
        if (kind !== 'key') lookup.clear(PREFIX.ip + subject)
        if (kind !== 'ip') lookup.clear(PREFIX.key + subject)
      },
    },
    size: { get: () => lookup.size },
  }) as CachedList
}
