#!/usr/bin/env node
// Generates the API reference (HTML) from the TSDoc of the public entry points into docs/api/
// (gitignored), with TypeDoc. Entry points that don't exist yet are skipped, so the script works
// at every stage of development.
//
//   node scripts/gen-api.mjs              → docs/api/index.html
//   node scripts/gen-api.mjs --out DIR    → DIR/index.html
//   node scripts/gen-api.mjs --strict     also fails on TypeDoc warnings (e.g. a public type
//                                         that references an unexported one)

import { existsSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Application, Converter, LogLevel, ReflectionKind } from 'typedoc'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))

/** Source file → the name users import it by (package.json `exports`). */
const ENTRY_POINTS = {
  'src/index.ts': 'ratekeeper',
  'src/http/index.ts': 'ratekeeper/http',
  'src/provider/index.ts': 'ratekeeper/provider',
  'src/stores/redis/index.ts': 'ratekeeper/redis',
  'adapters/express.ts': 'ratekeeper/express',
  'adapters/koa.ts': 'ratekeeper/koa',
  'adapters/fastify.ts': 'ratekeeper/fastify',
  'adapters/fetch.ts': 'ratekeeper/fetch',
  'src/client/index.ts': 'ratekeeper/client',
}

const { values } = parseArgs({ options: { out: { type: 'string' }, strict: { type: 'boolean', default: false } } })
const out = resolve(root, values.out ?? 'docs/api')

const present = Object.keys(ENTRY_POINTS).filter((file) => existsSync(join(root, file)))
const skipped = Object.keys(ENTRY_POINTS).filter((file) => !present.includes(file))
if (present.length === 0) {
  console.error('gen-api: none of the entry points exist')
  process.exit(1)
}
if (skipped.length > 0) console.warn(`gen-api: skipping entry points that don't exist yet: ${skipped.join(', ')}`)

const app = await Application.bootstrapWithPlugins({
  name: 'ratekeeper',
  entryPoints: present.map((file) => join(root, file)),
  entryPointStrategy: 'resolve',
  tsconfig: join(root, 'tsconfig.json'),
  out,
  readme: existsSync(join(root, 'README.md')) ? join(root, 'README.md') : 'none',
  excludeInternal: true,
  excludePrivate: true,
  excludeProtected: true,
  sort: ['kind', 'instance-first', 'alphabetical-ignoring-documents'],
  githubPages: false,
  // No git remote to link sources to (yet).
  disableSources: true,
  hideGenerator: true,
  logLevel: LogLevel.Warn,
  // The sources are type-checked by `npm run typecheck`; the reference must not fail on the
  // tests' or examples' errors while someone is mid-change.
  skipErrorChecking: true,
})

// Modules are named by their import path (`ratekeeper/express`), not their file (`adapters/express`).
app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
  for (const mod of context.project.getReflectionsByKind(ReflectionKind.Module)) {
    const file = mod.sources?.[0]?.fullFileName
    const rel = file === undefined ? undefined : relative(root, file).split('\\').join('/')
    const byFile = rel === undefined ? undefined : ENTRY_POINTS[rel]
    // TypeDoc names a module by its path from the common base, minus `.ts` and a final `index`.
    const stem = (path) => path.replace(/\.ts$/, '').replace(/\/index$/, '')
    const byName = Object.entries(ENTRY_POINTS).find(([path]) => stem(path) === mod.name || stem(path).endsWith(`/${mod.name}`))?.[1]
    const name = byFile ?? byName
    if (name !== undefined) mod.name = name
  }
})

const project = await app.convert()
if (project === undefined) {
  console.error('gen-api: TypeDoc could not convert the project')
  process.exit(1)
}
app.validate(project)
if (app.logger.hasErrors() || (values.strict && app.logger.hasWarnings())) {
  console.error('gen-api: TypeDoc reported problems (see above)')
  process.exit(1)
}
await app.generateDocs(project, out)
if (app.logger.hasErrors()) process.exit(1)
console.log(`gen-api: wrote ${relative(root, out) || '.'}/index.html (${present.map((f) => ENTRY_POINTS[f]).join(', ')})`)
