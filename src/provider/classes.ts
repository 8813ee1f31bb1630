import type { HttpRequestInfo } from '../http/request.js'
import { ConfigurationError, checkKnownOptions, checkOptionsObject, invalid } from '../limiter/errors.js'
import { isRecord } from './guards.js'

/**
 * A request class: the built-in `'read'`, `'write'`, `'delete'`, `'create'` (job-spawning routes
 * the app marks) and `'auth'` (token endpoints the app marks), or a name of your own (e.g.
 * `'tool-call'`): letters, digits, `_` and `-`, at most 64 characters.
 */
export type RequestClass = 'read' | 'write' | 'delete' | 'create' | 'auth' | (string & {})

/** Options of {@link requestClasses}. */
export interface RequestClassesOptions {
  /**
   * Method → class, merged over the defaults: `GET`, `HEAD`, `OPTIONS` → `'read'`; `POST`, `PUT`,
   * `PATCH` → `'write'`; `DELETE` → `'delete'`; any other method (`'*'`) → `'write'`.
   * @example { DELETE: 'write' } // managed.dev counts deletes as writes
   */
  methods?: Readonly<Record<string, RequestClass>>
  /**
   * Route → class, overriding the method: keys are `'METHOD /template'` or `'/template'` (any
   * method), written as the framework's route templates (`/jobs/:id`; a final `/*` matches the
   * rest of the path, as do `{*splat}`, `:path*`, `(.*)`, `[[...slug]]`, and — one segment or
   * more — `*splat`, `:path+`, `[...slug]`; an optional `:id?` or `{/:id}`, its segment or none).
   * A `GET` entry also covers `HEAD`.
   * @example { 'POST /v1/jobs': 'create', 'POST /auth/token': 'auth' }
   */
  routes?: Readonly<Record<string, RequestClass>>
}

/** Classifies requests by method and matched route template. Made once by {@link requestClasses}. */
export interface RequestClassifier {
  /** The class of one request. */
  classify(req: Pick<HttpRequestInfo, 'method' | 'route' | 'path'>): RequestClass
  /** Every class a request can be given, in a stable order (built-ins first, then your own). */
  readonly classes: readonly RequestClass[]
}

const WHERE = 'requestClasses()'
const KNOWN: { readonly [K in keyof Required<RequestClassesOptions>]: true } = { methods: true, routes: true }
const CLASS_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
const METHOD = /^(?:\*|[A-Z][A-Z0-9_-]{0,31})$/
const DEFAULT_METHODS: Readonly<Record<string, RequestClass>> = {
  GET: 'read',
  HEAD: 'read',
  OPTIONS: 'read',
  POST: 'write',
  PUT: 'write',
  PATCH: 'write',
  DELETE: 'delete',
  '*': 'write',
}
const BUILT_IN: readonly string[] = ['read', 'write', 'delete', 'create', 'auth']

interface RouteEntry {
  readonly method: string | undefined
  /** Template segments: lower-case literals, `':'` for a parameter, {@link REST} or {@link REST_1} (last) for the rest. */
  readonly segments: readonly string[]
  readonly cls: RequestClass
}

/** A last template segment that matches the rest of the path, however deep (also none). No literal segment holds a `/`. */
const REST = '/*'
/** A last template segment that matches one or more path segments. */
const REST_1 = '/+'
/** An optional parameter (`:id?`, Express 5's `{/:id}`): one path segment, or none. */
const OPTIONAL = '/?'
/** Express 5's optional group of one segment, `{/:id}` or `{/*splat}`: written as `/:id?` and `/{*splat}`. */
const BRACED_SEGMENT = /\{\/([^{}/]+)\}/g
const OPTIONAL_PARAM = /^:\w+\?$/
/**
 * Rest-of-path wildcards of every router syntax, as the last segment: `*` (Fastify, Hono, Express
 * 4), `{*splat}` (Express 5, optional), `:path*` / `(.*)` / `:path(.*)` (path-to-regexp, Koa),
 * `[[...slug]]` (Next.js, optional) match any depth; `*splat` (Express 5), `:path+`, `:path(.+)`,
 * `:path{.+}` (Hono) and `[...slug]` (Next.js) at least one segment.
 */
const REST_ANY = /^(?:\*|\{\*\w*\}|:\w+\*|:?\w*\((?:\.\*|\*)\)|:\w+\{\.\*\}|\[\[\.\.\.\w+\]\])$/
const REST_ONE = /^(?:\*\w+|:\w+\+|:\w+\(\.\+\)|:\w+\{\.\+\}|\[\.\.\.\w+\])$/

function checkClass(option: string, value: unknown): RequestClass {
  if (typeof value !== 'string' || !CLASS_NAME.test(value)) {
    invalid(WHERE, option, 'must be a class name: letters, digits, _ and -, at most 64 characters', value)
  }
  return value
}

/** A template segment in canonical form: parameters of every router syntax become `:`. */
function templateSegment(segment: string): string {
  const first = segment.charCodeAt(0)
  // :id (Express, Koa, Fastify, Hono), {id} (OpenAPI), [id] (Next.js).
  if (first === 58 /* : */ || (first === 123 /* { */ && segment.endsWith('}')) || (first === 91 /* [ */ && segment.endsWith(']'))) {
    return ':'
  }
  return segment === '*' ? REST : segment.toLowerCase()
}

/** A template's segments; a rest-of-path wildcard in the router's own syntax, last, becomes {@link REST} or {@link REST_1}. */
function splitTemplate(template: string): string[] {
  const unbraced =
    template.indexOf('{/') >= 0
      ? template.replace(BRACED_SEGMENT, (_, part: string) => (part.startsWith('*') ? `/{${part}}` : `/${part}?`))
      : template
  const parts = unbraced.split('/').filter((part) => part.length > 0)
  const out = parts.map((part) => (OPTIONAL_PARAM.test(part) ? OPTIONAL : templateSegment(part)))
  const last = parts.length - 1
  if (last >= 0) {
    if (REST_ANY.test(parts[last])) out[last] = REST
    else if (REST_ONE.test(parts[last])) out[last] = REST_1
  }
  return out
}

/** Path segments as a router sees them: percent-decoded, lower case, empty ones dropped. */
function splitPath(path: string): string[] {
  const q = path.indexOf('?')
  const bare = q >= 0 ? path.slice(0, q) : path
  const out: string[] = []
  for (const part of bare.split('/')) {
    if (part.length === 0) continue
    let decoded = part
    if (part.indexOf('%') >= 0) {
      try {
        decoded = decodeURIComponent(part)
      } catch {
        // Malformed escapes: match the raw text (no router would map it to a template anyway).
      }
    }
    out.push(decoded.toLowerCase())
  }
  return out
}

function matches(entry: RouteEntry, segments: readonly string[]): boolean {
  return matchFrom(entry.segments, 0, segments, 0)
}

/** Template segments from `ti` on against path segments from `si` on (an optional one tried with, then without, its segment). */
function matchFrom(t: readonly string[], ti: number, segments: readonly string[], si: number): boolean {
  for (; ti < t.length; ti++, si++) {
    const seg = t[ti]
    if (seg === REST) return true
    if (seg === REST_1) return si < segments.length
    if (seg === OPTIONAL) return (si < segments.length && matchFrom(t, ti + 1, segments, si + 1)) || matchFrom(t, ti + 1, segments, si)
    if (si >= segments.length || (seg !== ':' && seg !== segments[si])) return false
  }
  return si === segments.length
}

/**
 * Builds a request classifier: the class of a request comes from its matched route template when
 * a `routes` entry names it, else from its method. When the adapter knows no route template (a
 * middleware that runs before routing), the path is matched against the `routes` templates the
 * way a router would — percent-decoded, case-insensitive, ignoring repeated and trailing slashes —
 * so none of those spellings can move a request into a cheaper class.
 *
 * @example
 * const classes = requestClasses({
 *   methods: { DELETE: 'write' },
 *   routes: { 'POST /v1/jobs': 'create', 'POST /auth/token': 'auth' },
 * })
 * classes.classify({ method: 'POST', route: '/v1/jobs', path: '/v1/jobs' }) // 'create'
 */
export function requestClasses(options: RequestClassesOptions = {}): RequestClassifier {
  checkOptionsObject(WHERE, options)
  checkKnownOptions(WHERE, options, KNOWN)
  const methods: Record<string, RequestClass> = { ...DEFAULT_METHODS }
  if (options.methods !== undefined) {
    if (!isRecord(options.methods)) {
      invalid(WHERE, 'methods', "must be an object of method → class, e.g. { DELETE: 'write' }", options.methods)
    }
    for (const [method, cls] of Object.entries(options.methods)) {
      if (!METHOD.test(method)) invalid(WHERE, `methods.${method}`, "must be an upper-case method name or '*'", method)
      methods[method] = checkClass(`methods.${method}`, cls)
    }
  }
  const entries: RouteEntry[] = []
  if (options.routes !== undefined) {
    if (!isRecord(options.routes)) {
      invalid(WHERE, 'routes', "must be an object of route → class, e.g. { 'POST /v1/jobs': 'create' }", options.routes)
    }
    const seen = new Set<string>()
    for (const [spec, cls] of Object.entries(options.routes)) {
      const option = `routes["${spec}"]`
      const space = spec.indexOf(' ')
      const method = space >= 0 ? spec.slice(0, space) : undefined
      const template = space >= 0 ? spec.slice(space + 1).trim() : spec
      if (method !== undefined && (method === '*' || !METHOD.test(method))) {
        invalid(WHERE, option, "must be 'METHOD /template' (upper-case method) or '/template'", spec)
      }
      if (!template.startsWith('/') || /\s/.test(template)) invalid(WHERE, option, "must be 'METHOD /template' or '/template'", spec)
      const segments = splitTemplate(template)
      if (segments.indexOf(REST) >= 0 && segments.indexOf(REST) !== segments.length - 1) {
        invalid(WHERE, option, "may use '*' only as the last segment", spec)
      }
      const id = `${method ?? '*'} /${segments.join('/')}`
      if (seen.has(id)) {
        throw new ConfigurationError('ERR_RK_INVALID_OPTION', WHERE, option, 'names the same route as an earlier entry', spec)
      }
      seen.add(id)
      entries.push({ method, segments, cls: checkClass(option, cls) })
    }
  }
  // Entries naming a method win over method-less ones; within each group, the first match wins.
  const ordered = [...entries.filter((e) => e.method !== undefined), ...entries.filter((e) => e.method === undefined)]
  const find = (method: string, segments: readonly string[]): RouteEntry | undefined => {
    for (const e of ordered) {
      if (e.method !== undefined && e.method !== method && !(method === 'HEAD' && e.method === 'GET')) continue
      if (matches(e, segments)) return e
    }
    return undefined
  }
  // Route templates are the app's own (a finite set), so their answers are cached per method and
  // template; the bound only guards against an adapter that passes something unbounded.
  const templateCache = new Map<string, Map<string, RouteEntry | null>>()
  let cached = 0

  const classes: RequestClass[] = []
  const add = (c: RequestClass) => {
    if (!classes.includes(c)) classes.push(c)
  }
  const used = new Set<RequestClass>([...Object.values(methods), ...entries.map((e) => e.cls)])
  for (const c of BUILT_IN) if (used.has(c)) add(c)
  for (const c of used) add(c)

  const byTemplate = (method: string, route: string): RouteEntry | undefined => {
    let byRoute = templateCache.get(method)
    const hit = byRoute?.get(route)
    if (hit !== undefined) return hit ?? undefined
    const entry = find(method, splitTemplate(route))
    if (cached < 4096) {
      if (byRoute === undefined) templateCache.set(method, (byRoute = new Map()))
      byRoute.set(route, entry ?? null)
      cached++
    }
    return entry
  }

  return Object.freeze({
    classes: Object.freeze(classes),
    classify(req: Pick<HttpRequestInfo, 'method' | 'route' | 'path'>): RequestClass {
      const method = req.method.toUpperCase()
      if (entries.length > 0) {
        const entry = req.route !== undefined ? byTemplate(method, req.route) : find(method, splitPath(req.path))
        if (entry !== undefined) return entry.cls
      }
      return methods[method] ?? methods['*']
    },
  })
}
