// A limiter mounted after the routes it was meant to limit: told by the adapters, which can see
// their framework's middleware order, in one message.

/** Warning code: the app answers some routes before the request reaches the limiter. */
export const MOUNTED_AFTER_ROUTES = 'RK_MOUNTED_AFTER_ROUTES'

/** Routes named in the message; the rest are counted. */
const NAMED = 3

/** A route as the message names it: `GET /things`, `GET|POST /c`, `ALL /b` (HEAD goes with GET). */
export function routeText(methods: readonly string[], path: string): string {
  const shown = methods.map((m) => m.toUpperCase()).filter((m) => m !== 'HEAD' && m !== '_ALL')
  return `${shown.length === 0 || shown.length > 4 ? 'ALL' : shown.join('|')} ${path}`
}

/**
 * The warning for a limiter mounted after `routes` (`'GET /things'`, or a router's description):
 * requests those routes answer never reach it. `mount` says how to mount it first.
 */
export function mountedAfterRoutesMessage(routes: readonly string[], mount: string): string {
  const named = routes.slice(0, NAMED).join(', ') + (routes.length > NAMED ? `, and ${routes.length - NAMED} more` : '')
  const count = routes.length === 1 ? '1 route' : `${routes.length} routes`
  return (
    `ratekeeper: the rate limiter is mounted after ${count} of the app (${named}): requests they answer never reach it, ` +
    `so they are not counted and get no rate-limit headers; ${mount}. A route left out on purpose (a health check) ` +
    'is better mounted after the limiter and exempted with its skip option, which keeps this warning quiet.'
  )
}
