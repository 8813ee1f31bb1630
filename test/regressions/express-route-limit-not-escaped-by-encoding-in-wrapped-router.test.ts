// A per-route limit on a router that the app reaches only through a function of yours
// (`app.use('/orgs/:org', (req, res, next) => org(req, res, next))`: lazy loading, a table of
// versions…) counts one bucket for the route. Keyed by the mount text the request matched, each
// percent-encoding of it (`/orgs/%61cme`), each parameter value and each match of a regular
// expression mount got a fresh allowance.
import { fixedWindow } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/express'
import { describe, expect, it } from 'vitest'
import { EXPRESS, send } from '../helpers/http-apps.js'

const LIMIT = 2

describe.each(EXPRESS)('%s', (_name, express) => {
  /** An app reaching, through a function, a router whose `POST /login` is limited to LIMIT. */
  function wrapped(mount: string | RegExp) {
    const org = express.Router({ mergeParams: true })
    const counter = { runs: 0 }
    org.post('/login', rateLimit({ policies: [fixedWindow({ limit: LIMIT, window: '15m' })] }), (_req, res) => {
      counter.runs++
      res.end('in')
    })
    const app = express()
    app.use(mount, (req, res, next) => org(req, res, next))
    return { app, counter }
  }

  it('percent-encodings of the mount text share the bucket', async () => {
    const { app, counter } = wrapped('/orgs/:org')
    const statuses = []
    for (const url of [
      '/orgs/acme/login',
      '/orgs/acme/login',
      '/orgs/acme/login',
      '/orgs/%61cme/login',
      '/orgs/a%63me/login',
      '/orgs/ac%6De/login',
      '/orgs/%41CME/login',
    ]) {
      statuses.push((await send(app, 'POST', url)).status)
    }
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429, 429])
    expect(counter.runs).toBe(LIMIT)
  })

  it('every parameter value shares the bucket', async () => {
    const { app, counter } = wrapped('/orgs/:org')
    for (const url of ['/orgs/a/login', '/orgs/b/login', '/orgs/c/login', '/orgs/d/login']) await send(app, 'POST', url)
    expect(counter.runs).toBe(LIMIT)
  })

  it('every match of a regular expression mount shares the bucket', async () => {
    const { app, counter } = wrapped(/^\/v\d+/)
    for (const url of ['/v1/login', '/v2/login', '/v01/login', '/v3/login', '/V4/login']) await send(app, 'POST', url)
    expect(counter.runs).toBe(LIMIT)
  })

  it('two wrapped routers with the same route text keep buckets of their own', async () => {
    const app = express()
    for (const prefix of ['/a', '/b']) {
      const r = express.Router()
      r.post('/login', rateLimit({ policies: [fixedWindow({ limit: 1, window: '15m' })] }), (_req, res) => {
        res.end('in')
      })
      app.use(prefix, (req, res, next) => r(req, res, next))
    }
    const statuses = []
    for (const url of ['/a/login', '/b/login', '/a/login', '/b/login']) statuses.push((await send(app, 'POST', url)).status)
    expect(statuses).toEqual([200, 200, 429, 429])
  })
})
