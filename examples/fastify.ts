// Fastify: the plugin limits every route per bearer token (or IP), a route sets a stricter limit
// of its own through `config.rateLimit`, another opts out, and 429s use skakio's envelope.
//
//   node --import tsx examples/fastify.ts        then: curl -i http://127.0.0.1:3000/v1/items -H "Authorization: Bearer pk_test_1"

import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import { apiKey, fixedWindow, tokenBucket } from 'ratekeeper'
import fastifyRateLimit from 'ratekeeper/fastify'

export async function createApp(options: { now?: () => number } = {}): Promise<FastifyInstance> {
  const app = Fastify({ trustProxy: false })

  await app.register(fastifyRateLimit, {
    policies: [
      tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 }),
      fixedWindow({ name: 'per-day', limit: 10_000, window: '1d' }),
    ],
    key: apiKey({ bearer: true }),
    body: 'skakio',
    now: options.now,
  })

  app.get('/v1/items', async () => ({ data: [] }))
  // A stricter bucket of this route's own (keyed by route template, not raw path).
  app.post(
    '/v1/exports/:format',
    { config: { rateLimit: { policies: [tokenBucket({ name: 'exports', limit: 2, window: '1m' })] } } },
    async (req) => ({
      queued: (req.params as { format: string }).format,
    }),
  )
  app.get('/health', { config: { rateLimit: false } }, async () => ({ ok: true }))
  return app
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const app = await createApp()
  const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
  console.log(`Fastify example on ${address}/v1/items`)
}
