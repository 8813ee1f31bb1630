// A `routes` entry with an optional parameter — `/jobs/:id?` (Express 4, Koa's router) or
// `/jobs{/:id}` (Express 5) — is routed both `/jobs` and `/jobs/7`. Matched by path (before
// routing, where the adapter knows no template), `POST /jobs` fell through to the method's class,
// and with Express 5's braces so did `POST /jobs/7`: leaving the id out moved a request into a
// cheaper class. An optional parameter now matches its segment or no segment.
import { expect, it } from 'vitest'
import { requestClasses } from '../../src/provider/index.js'

it.each(['/v1/jobs/:id?', '/v1/jobs{/:id}', '/v1/jobs/:id?/', '/v1/:ver?/jobs'])(
  'POST %s holds the path with and without the parameter',
  (template) => {
    const classes = requestClasses({ routes: { [`POST ${template}`]: 'create' } })
    const classify = (path: string, route?: string) => classes.classify({ method: 'POST', route, path })
    const paths = template.startsWith('/v1/:ver') ? ['/v1/jobs', '/v1/2/jobs'] : ['/v1/jobs', '/v1/jobs/7', '/V1/Jobs/7/']
    for (const path of paths) {
      expect([path, classify(path)]).toEqual([path, 'create'])
      expect([path, classify(path, template)]).toEqual([path, 'create'])
    }
    expect(classify('/v1/jobs/7/8/9')).toBe('write')
    expect(classify('/v1')).toBe('write')
  },
)
