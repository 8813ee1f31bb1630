import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import { defineConfig } from 'tsup'

/**
 * Output name (dist/<name>.js, .cjs, .d.ts, .d.cts) → source file, one per subpath export of
 * package.json. `scripts/check-package.mjs` fails when an export points at a file that was not
 * built, so a subpath added here must be added there (package.json `exports`) too, and vice versa.
 */
const entryPoints: Record<string, string> = {
  index: 'src/index.ts',
  http: 'src/http/index.ts',
  provider: 'src/provider/index.ts',
  redis: 'src/stores/redis/index.ts',
  postgres: 'src/stores/postgres/index.ts',
  express: 'adapters/express.ts',
  koa: 'adapters/koa.ts',
  fastify: 'adapters/fastify.ts',
  fetch: 'adapters/fetch.ts',
  client: 'src/client/index.ts',
  metrics: 'src/metrics/index.ts',
}

// Build only the entries that exist yet, so the build works at every step of development; the
// package check is what insists that every export was built.
const entry = Object.fromEntries(Object.entries(entryPoints).filter(([, source]) => existsSync(source)))
const missing = Object.keys(entryPoints).filter((name) => !(name in entry))
if (Object.keys(entry).length === 0) {
  throw new Error(`tsup.config.ts: none of the entry files exist yet (${Object.values(entryPoints).join(', ')})`)
}
if (missing.length > 0) {
  console.warn(`tsup.config.ts: skipping entries whose source does not exist yet: ${missing.join(', ')}`)
}

/**
 * `require('ratekeeper/fastify')` returns the plugin itself, with the named exports as its
 * properties (`.default`, `.fastifyRateLimit`, `.rateLimitsRoute`, …), as Fastify plugins do:
 * `fastify.register(require('ratekeeper/fastify'), options)` works without `.default`. The ESM
 * build is untouched. `scripts/check-package.mjs` asserts both shapes.
 */
const FASTIFY_CJS = 'dist/fastify.cjs'
const FASTIFY_CJS_FOOTER =
  '\n// The plugin is the module: named exports become its properties.\nmodule.exports = Object.assign(exports.default, exports);\n'

function fastifyPluginAsModule(): void {
  if (!existsSync(FASTIFY_CJS)) return
  if (!readFileSync(FASTIFY_CJS, 'utf8').endsWith(FASTIFY_CJS_FOOTER)) appendFileSync(FASTIFY_CJS, FASTIFY_CJS_FOOTER)
}

export default defineConfig({
  entry,
  format: ['esm', 'cjs'],
  // .d.ts next to .js and .d.cts next to .cjs (package.json "type": "module").
  dts: true,
  target: 'node20',
  platform: 'node',
  // Shared chunks in both formats: every subpath of one format shares a single copy of the core,
  // so classes (`instanceof RateKeeperError`), policy slots and the memory store are the same
  // objects whether a user imports `ratekeeper` or `ratekeeper/express`.
  splitting: true,
  clean: true,
  sourcemap: false,
  treeshake: false,
  // dependencies and peerDependencies are external already (tsup reads package.json); listed
  // again so that no bundling change can ever inline a framework or a Redis client.
  external: ['express', 'koa', 'fastify', 'fastify-plugin', 'ioredis', 'pg', 'lru-cache', 'prom-client', '@opentelemetry/api'],
  onSuccess: async () => fastifyPluginAsModule(),
})
