// Koa with @koa/router: an app-wide limit per user, and a reports route where each request costs
// as many units as the pages it asks for (a weighted cost), 100 pages per hour per user.
//
//   node --import tsx examples/koa.ts        then: curl -i "http://127.0.0.1:3000/v1/reports?pages=40" -H "X-User: ada"

import { pathToFileURL } from 'node:url'
import Router from '@koa/router'
import Koa from 'koa'
import { fixedWindow, slidingWindow, userKey } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/koa'

/** Pages a report request asks for: 1-50, or 0 for a malformed value (rejected by the handler). */
export function pagesOf(query: unknown): number {
  const text = (query as { pages?: unknown }).pages
  if (text === undefined) return 1
  return typeof text === 'string' && /^\d{1,2}$/.test(text) && Number(text) >= 1 && Number(text) <= 50 ? Number(text) : 0
}

export function createApp(options: { now?: () => number } = {}): { app: Koa; close(): Promise<void> } {
  const app = new Koa()
  const router = new Router()

  // In a real app the user comes from your auth middleware; here from an X-User header.
  const byUser = userKey((ctx: Koa.Context) => ctx.get('x-user') || undefined)

  const perUser = rateLimit({ policies: [slidingWindow({ name: 'per-minute', limit: 60, window: '1m' })], key: byUser, now: options.now })
  const reportPages = rateLimit({
    policies: [fixedWindow({ name: 'report-pages', limit: 100, window: '1h' })],
    key: byUser,
    cost: (ctx) => pagesOf(ctx.query),
    now: options.now,
  })

  router.get('/v1/things', (ctx) => {
    ctx.body = { data: [] }
  })
  router.get('/v1/reports', reportPages, (ctx) => {
    const pages = pagesOf(ctx.query)
    if (pages === 0) {
      ctx.status = 400
      ctx.body = { error: 'pages must be 1-50' }
      return
    }
    ctx.body = { pages }
  })

  app.use(perUser)
  app.use(router.routes())
  app.use(router.allowedMethods())
  return {
    app,
    close: async () => {
      await perUser.close()
      await reportPages.close()
    },
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  createApp().app.listen(port, '127.0.0.1', () => console.log(`Koa example on http://127.0.0.1:${port}/v1/reports?pages=40`))
}
