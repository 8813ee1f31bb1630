// A `routes` entry written with the framework's own rest-of-path wildcard — Express 5's `*splat`
// and `{*splat}`, path-to-regexp's `:path*`, `:path+` and `(.*)` (Koa's router), Next.js's
// `[...slug]` — matched a request by its route template, but not by its path: before routing
// (app-level middleware, where the adapter knows no template), `POST /files/a/b` fell through to
// the method's class ('write' instead of 'upload'), so one more path segment moved a request out
// of its class's budget into a cheaper one. Every such wildcard now matches the rest of the path.
import { expect, it } from 'vitest'
import { requestClasses } from '../../src/provider/index.js'

const anyDepth = ['/files/*', '/files/{*splat}', '/files/:path*', '/files/(.*)', '/files/:path(.*)', '/files/[[...slug]]']
const oneOrMore = ['/files/*splat', '/files/:path+', '/files/[...slug]', '/files/:path(.+)']

it.each([...anyDepth, ...oneOrMore])('POST %s classes every path below it as the route does', (template) => {
  const classes = requestClasses({ routes: { [`POST ${template}`]: 'upload' } })
  const classify = (path: string, route?: string) => classes.classify({ method: 'POST', route, path })
  for (const path of ['/files/a', '/files/a/b', '/files/a/b/c/d', '/FILES//a/b/']) {
    expect([path, classify(path)]).toEqual([path, 'upload'])
    expect([path, classify(path, template)]).toEqual([path, 'upload'])
  }
  expect(classify('/other/a/b')).toBe('write')
  expect(classify('/files')).toBe(anyDepth.includes(template) ? 'upload' : 'write')
})

it('a literal segment is still a literal', () => {
  const classes = requestClasses({ routes: { 'POST /a/+': 'plus' } })
  expect(classes.classify({ method: 'POST', route: undefined, path: '/a/+' })).toBe('plus')
  expect(classes.classify({ method: 'POST', route: undefined, path: '/a/b/c' })).toBe('write')
})
