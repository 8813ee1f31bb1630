// Property: whatever the router layout — routers mounted on strings, parameters, regular
// expressions and lists of paths, nested, mounted at several places; routes for every method
// (`all`), for a list of methods, or for a list of paths — a per-route limit counts one bucket
// per registered route: a route limited to L runs its handler min(requests, L) times, however
// its requests spell the URL and whatever their methods, and never lends its allowance to
// another route.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { EXPRESS, KOA, METHODS, perMinute, Router, send } from '../helpers/http-apps.js'

const LIMIT = 2

/** How a router is mounted at one place; `pick` makes a concrete URL segment that reaches it. */
type Mount =
  | { kind: 'string'; path: string }
  | { kind: 'param'; path: string }
  | { kind: 'regex'; path: RegExp }
  | { kind: 'list'; paths: string[] }

const segment = fc.constantFrom('api', 'v1', 'auth', 'users', 'x')
const stringMount = segment.map((s): Mount => ({ kind: 'string', path: `/${s}` }))
const paramMount = segment.map((s): Mount => ({ kind: 'param', path: `/${s}/:p` }))
const regexMount = fc.constant<Mount>({ kind: 'regex', path: /^\/v\d+/ })
const listMount = fc
  .uniqueArray(segment, { minLength: 2, maxLength: 3 })
  .map((s): Mount => ({ kind: 'list', paths: s.map((x) => `/${x}`) }))

/** One level of nesting: the places (1-2) the router of this level is mounted at. */
const level = (mount: fc.Arbitrary<Mount>) => fc.array(mount, { minLength: 1, maxLength: 2 })

/** A route: its methods (`all` or a list) and whether it is registered for a list of paths. */
const route = fc.record({
  methods: fc.oneof(
    fc.constant<'all'>('all'),
    fc.uniqueArray(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), { minLength: 1, maxLength: 3 }),
  ),
  paths: fc.integer({ min: 1, max: 2 }),
})

/** Concrete URL text reaching a mount, chosen by `n`. */
function concrete(mount: Mount, n: number): string {
  switch (mount.kind) {
    case 'string':
      return n % 2 === 0 ? mount.path : mount.path.toUpperCase()
    case 'param':
      return mount.path.replace(':p', `p${n}`)
    case 'regex':
      return `/v${'0'.repeat(n % 3)}${n}`
    case 'list':
      return mount.paths[n % mount.paths.length]
  }
}

interface Target {
  levels: Mount[][]
  route: { methods: 'all' | string[]; paths: number }
  /** Each request: which mount of each level, which route path, which method. */
  requests: { picks: number[]; path: number; method: number }[]
}

const request = fc.record({ picks: fc.array(fc.nat(50), { minLength: 3, maxLength: 3 }), path: fc.nat(5), method: fc.nat(50) })

function target(mount: fc.Arbitrary<Mount>): fc.Arbitrary<Target> {
  return fc.record({
    levels: fc.array(level(mount), { minLength: 0, maxLength: 2 }),
    route,
    requests: fc.array(request, { minLength: 1, maxLength: 6 }),
  })
}

/** The URL and method of one request to a target route (`name` keeps two targets' paths apart). */
function urlOf(t: Target, name: string, r: Target['requests'][number]): { method: string; url: string } {
  const prefix = t.levels.map((places, i) => concrete(places[r.picks[i] % places.length], r.picks[i] + i)).join('')
  const path = `/${name}-${r.path % t.route.paths}`
  const methods = t.route.methods === 'all' ? METHODS : t.route.methods
  return { method: methods[r.method % methods.length], url: prefix + path }
}

describe.each(EXPRESS)('%s', (_name, express) => {
  type Rt = ReturnType<typeof express.Router>

  /** Registers `t`'s route on a fresh chain of routers; returns its run counter. */
  function add(app: ReturnType<typeof express>, t: Target, name: string, limit: ReturnType<typeof expressRateLimit>) {
    const counter = { runs: 0 }
    const leaf = express.Router()
    const paths = Array.from({ length: t.route.paths }, (_, i) => `/${name}-${i}`)
    const handler = (_req: unknown, res: { end: (s: string) => void }) => {
      counter.runs++
      res.end(name)
    }
    const path = paths.length === 1 ? paths[0] : paths
    if (t.route.methods === 'all') leaf.all(path, limit, handler)
    else {
      const r = leaf.route(path)
      for (const m of t.route.methods) r[m.toLowerCase() as 'get'](limit, handler)
    }
    // Mount bottom-up: each level's router is mounted at every place of that level.
    let child: Rt = leaf
    for (let i = t.levels.length - 1; i >= 0; i--) {
      const parent: Rt | ReturnType<typeof express> = i === 0 ? app : express.Router()
      for (const place of t.levels[i]) {
        const at = place.kind === 'list' ? place.paths : place.path
        parent.use(at as string, child)
      }
      if (i === 0) return counter
      child = parent as Rt
    }
    app.use(child)
    return counter
  }

  it('one bucket per registered route', async () => {
    const mount = fc.oneof(stringMount, paramMount, regexMount, listMount)
    await fc.assert(
      fc.asyncProperty(target(mount), target(mount), async (a, b) => {
        const app = express()
        // One limiter instance on both routes: each route still has buckets of its own.
        const limit = expressRateLimit(perMinute(LIMIT))
        const ra = add(app, a, 'a', limit)
        const rb = add(app, b, 'b', limit)
        for (const r of a.requests) {
          const { method, url } = urlOf(a, 'a', r)
          await send(app, method, url)
        }
        for (const r of b.requests) {
          const { method, url } = urlOf(b, 'b', r)
          await send(app, method, url)
        }
        expect([ra.runs, rb.runs]).toEqual([Math.min(a.requests.length, LIMIT), Math.min(b.requests.length, LIMIT)])
      }),
      { numRuns: 40 },
    )
  })
})

describe.each(KOA)('%s', (_name, Koa) => {
  /** Registers `t`'s route on a fresh chain of routers under `root`; returns its run counter. */
  type KoaRouter = Router
  function add(root: KoaRouter, t: Target, name: string, limit: ReturnType<typeof koaRateLimit>) {
    const counter = { runs: 0 }
    const leaf: KoaRouter = new Router()
    const paths = Array.from({ length: t.route.paths }, (_, i) => `/${name}-${i}`)
    const handler = (ctx: { body: unknown }) => {
      counter.runs++
      ctx.body = name
    }
    const path = paths.length === 1 ? paths[0] : paths
    if (t.route.methods === 'all') leaf.all(path, limit, handler)
    else leaf.register(path, t.route.methods, [limit, handler])
    let child = leaf
    for (let i = t.levels.length - 1; i >= 0; i--) {
      const parent: KoaRouter = i === 0 ? root : new Router()
      for (const place of t.levels[i]) {
        if (place.kind === 'list') parent.use(place.paths, child.routes())
        else parent.use(place.path as string, child.routes())
      }
      if (i === 0) return counter
      child = parent
    }
    root.use(child.routes())
    return counter
  }

  it('one bucket per registered route', async () => {
    // @koa/router mounts routers on strings only (no regular expressions).
    const mount = fc.oneof(stringMount, paramMount, listMount)
    await fc.assert(
      fc.asyncProperty(target(mount), target(mount), async (a, b) => {
        const app = new Koa()
        const root = new Router()
        const limit = koaRateLimit(perMinute(LIMIT))
        const ra = add(root, a, 'a', limit)
        const rb = add(root, b, 'b', limit)
        app.use(root.routes())
        const listener = app.callback()
        for (const r of a.requests) {
          const { method, url } = urlOf(a, 'a', r)
          await send(listener, method, url.toLowerCase())
        }
        for (const r of b.requests) {
          const { method, url } = urlOf(b, 'b', r)
          await send(listener, method, url.toLowerCase())
        }
        expect([ra.runs, rb.runs]).toEqual([Math.min(a.requests.length, LIMIT), Math.min(b.requests.length, LIMIT)])
      }),
      { numRuns: 40 },
    )
  })
})
