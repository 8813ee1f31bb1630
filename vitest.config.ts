import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

// .ci/run sets RK_VITEST_JSON to collect the counts of every run (Node 20, 22, 24) for its summary.
const jsonReport = process.env.RK_VITEST_JSON

export default defineConfig({
  resolve: {
    // Tests, examples and docs import the package by its public names; point them at the sources.
    alias: [
      { find: /^ratekeeper$/, replacement: here('./src/index.ts') },
      { find: /^ratekeeper\/http$/, replacement: here('./src/http/index.ts') },
      { find: /^ratekeeper\/provider$/, replacement: here('./src/provider/index.ts') },
      { find: /^ratekeeper\/redis$/, replacement: here('./src/stores/redis/index.ts') },
      { find: /^ratekeeper\/postgres$/, replacement: here('./src/stores/postgres/index.ts') },
      { find: /^ratekeeper\/express$/, replacement: here('./adapters/express.ts') },
      { find: /^ratekeeper\/koa$/, replacement: here('./adapters/koa.ts') },
      { find: /^ratekeeper\/fastify$/, replacement: here('./adapters/fastify.ts') },
      { find: /^ratekeeper\/fetch$/, replacement: here('./adapters/fetch.ts') },
      { find: /^ratekeeper\/client$/, replacement: here('./src/client/index.ts') },
      { find: /^ratekeeper\/metrics$/, replacement: here('./src/metrics/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Memory-bound tests call globalThis.gc() so their heap figures do not depend on GC timing.
    execArgv: ['--expose-gc'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    ...(jsonReport ? { reporters: ['default', 'json'], outputFile: { json: jsonReport } } : {}),
  },
})
