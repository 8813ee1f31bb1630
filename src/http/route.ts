// Route identity: how a registered route becomes the scope of its own buckets.

/**
 * The route scope of a registered route (computed once per route by the adapters): its methods and
 * its template, e.g. `GET /users/:id`, `GET,POST /login`, `ALL /upload`. One route is one bucket
 * whatever the method of each request. `methods` is what the route was registered for:
 * `undefined`, `ALL`, `_all` or `*` mean every method; `HEAD` goes with `GET` (frameworks answer
 * `HEAD` with the `GET` route), so a `HEAD`-only route shares its `GET` route's buckets.
 */
export function routeScope(methods: Iterable<string> | string | undefined, template: string): string {
  const list = methods === undefined ? ['ALL'] : typeof methods === 'string' ? [methods] : [...methods]
  const set = new Set<string>()
  for (const method of list) {
    const m = String(method).toUpperCase()
    if (m === 'ALL' || m === '_ALL' || m === '*') return `ALL ${template}`
    set.add(m)
  }
  if (set.has('HEAD')) {
    set.delete('HEAD')
    set.add('GET')
  }
  if (set.size === 0) return `ALL ${template}`
  return `${[...set].sort().join(',')} ${template}`
}

/**
 * A route template as registered, one spelling per route: without a trailing slash (but for `/`).
 * Fastify 4 registers a prefix's `/` route twice (`/v1` and `/v1/`, its default
 * `prefixTrailingSlash: 'both'`), each with a context and URL of its own: both are one route, one
 * bucket. Express templates are read the same way.
 */
export function routeTemplate(url: string): string {
  return url.length > 1 && url.endsWith('/') ? url.slice(0, -1) : url
}

/** Keeps route templates and client keys apart: the length prefix makes the pair unambiguous. */
export function scopedKey(scope: string, key: string): string {
  return `route:${scope.length}:${scope}|${key}`
}

/** The path of a request target (`/a/b?x=1` → `/a/b`; `http://host/a?x` → `/a`), as received. */
export function pathOf(url: string): string {
  let end = url.indexOf('?')
  const hash = url.indexOf('#')
  if (hash >= 0 && (end < 0 || hash < end)) end = hash
  const target = end < 0 ? url : url.slice(0, end)
  if (target.startsWith('/') || target === '') return target || '/'
  // Absolute form (`http://host/path`): the path part.
  const scheme = target.indexOf('://')
  if (scheme < 0) return target
  const slash = target.indexOf('/', scheme + 3)
  return slash < 0 ? '/' : target.slice(slash)
}

/** Route scopes by template, for {@link templateScope}; bounded, in case a caller passes raw paths as routes. */
const templateScopes = new Map<string, string>()

/**
 * The scope of a route known only by its template: one bucket per route whatever the method (Hono's
 * `all` and `on()` register one entry per method, and a plain Fetch check's `route` names the route).
 */
export function templateScope(template: string): string {
  let scope = templateScopes.get(template)
  if (scope === undefined) {
    scope = routeScope(undefined, template)
    if (templateScopes.size < 10_000) templateScopes.set(template, scope)
  }
  return scope
}
