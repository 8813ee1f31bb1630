// The allow / deny stage of the request pipeline: before any limit is asked, nothing is charged.
import { invalid } from '../limiter/errors.js'
import { isThenable } from '../limiter/thenable.js'
import type { Limiter } from '../limiter/types.js'
import { type AccessList, type DeniedOptions, deniedResponder, type ListKind, listOption } from './access-list.js'
import type { HttpOutcome, HttpRequestInfo } from './request.js'

/** What the list stage says about a request: answer it now (denied, or allow-listed), or go on to the limits. */
export type ListVerdict = HttpOutcome | undefined

/** Goes on to `then` unless the list stage answered the request. */
export function listed(
  verdict: ListVerdict | Promise<ListVerdict>,
  then: () => HttpOutcome | Promise<HttpOutcome>,
): HttpOutcome | Promise<HttpOutcome> {
  return isThenable(verdict) ? verdict.then((v) => v ?? then()) : (verdict ?? then())
}

/** The allow and deny lists of one HTTP limiter. */
export interface ListStage {
  /** By the client address: a deny outcome, the pass outcome (allow-listed), or `undefined` (go on). */
  byIp(info: HttpRequestInfo): ListVerdict | Promise<ListVerdict>
  /** By the subject key (before route scoping), once it is known. */
  byKey(key: string, info: HttpRequestInfo): ListVerdict | Promise<ListVerdict>
}

/**
 * The list stage of the `allow`, `deny` and `denied` options, or `undefined` when there are no
 * lists. Deny wins: a request whose address or key is deny-listed is denied even when the other
 * is allow-listed; an allow-listed address still has its key checked against a deny list of keys.
 */
export function listStage(
  where: string,
  options: { allow?: unknown; deny?: unknown; denied?: DeniedOptions },
  requestIdOf: (req: HttpRequestInfo) => string | undefined,
  pass: HttpOutcome,
  limiter: Pick<Limiter, 'listed'>,
): ListStage | undefined {
  const allow = listOption(where, 'allow', options.allow)
  const deny = listOption(where, 'deny', options.deny)
  const respond = deniedResponder(where, options.denied, requestIdOf)
  if (deny === undefined && options.denied !== undefined) invalid(where, 'denied', 'has no effect without `deny`', options.denied)
  if (allow === undefined && deny === undefined) return undefined
  /** Requests whose address is allow-listed, waiting for their key to be checked against the deny list. */
  const allowedByIp = new WeakSet<HttpRequestInfo>()
  const denyKeys = deny?.byKey === true ? deny : undefined
  const allowKeys = allow?.byKey === true ? allow : undefined
  /** Counted in the metrics through the limiter's `listed` event. */
  const passed = (by: ListKind): HttpOutcome => {
    limiter.listed?.({ list: 'allow', by })
    return pass
  }
  const refused = (info: HttpRequestInfo, by: ListKind): HttpOutcome => {
    limiter.listed?.({ list: 'deny', by })
    return respond(info, by)
  }

  const afterIpAllow = (info: HttpRequestInfo, yes: boolean): ListVerdict => {
    if (!yes) return undefined
    if (denyKeys === undefined) return passed('ip')
    allowedByIp.add(info)
    return undefined
  }
  const ipAllow = (info: HttpRequestInfo): ListVerdict | Promise<ListVerdict> => {
    if (allow === undefined) return undefined
    const yes = allow.hasIp(info)
    return isThenable(yes) ? yes.then((y) => afterIpAllow(info, y)) : afterIpAllow(info, yes)
  }
  const keyAllow = (key: string, info: HttpRequestInfo): ListVerdict | Promise<ListVerdict> => {
    if (allowedByIp.has(info)) return passed('ip')
    if (allowKeys === undefined) return undefined
    const yes = allowKeys.hasKey(key, info)
    return isThenable(yes) ? yes.then((y) => (y ? passed('key') : undefined)) : yes ? passed('key') : undefined
  }
  const first = (
    list: AccessList | undefined,
    ask: (list: AccessList) => boolean | Promise<boolean>,
    denied: () => HttpOutcome,
    next: () => ListVerdict | Promise<ListVerdict>,
  ): ListVerdict | Promise<ListVerdict> => {
    if (list === undefined) return next()
    const yes = ask(list)
    return isThenable(yes) ? yes.then((y) => (y ? denied() : next())) : yes ? denied() : next()
  }

  return {
    byIp: (info) =>
      first(
        deny,
        (l) => l.hasIp(info),
        () => refused(info, 'ip'),
        () => ipAllow(info),
      ),
    byKey: (key, info) =>
      first(
        denyKeys,
        (l) => l.hasKey(key, info),
        () => refused(info, 'key'),
        () => keyAllow(key, info),
      ),
  }
}
