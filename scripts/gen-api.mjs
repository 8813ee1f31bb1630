#!/usr/bin/env node
// Generates the API reference (HTML) from the TSDoc of the public entry points into docs/api/
// (gitignored), with TypeDoc: one module per entry point (`ratekeeper/http`, …), its names in
// categories by purpose. The categories come from the ### sections of docs/api-surface.md, the
// list of every export that test/api/exports.test.ts holds to the sources, so the reference and
// that page group names the same way. Entry points that don't exist yet are skipped.
//
//   node scripts/gen-api.mjs              → docs/api/index.html
//   node scripts/gen-api.mjs --out DIR    → DIR/index.html
//   node scripts/gen-api.mjs --strict     also fails on TypeDoc warnings (e.g. a public type
//                                         that references an unexported one); `npm run docs:api`
//                                         runs this way

import { existsSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Application, Comment, CommentTag, Converter, LogLevel, ReflectionKind } from 'typedoc'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))

/** Source file → the name users import it by (package.json `exports`). */
const ENTRY_POINTS = {
  'src/index.ts': 'ratekeeper',
  'src/http/index.ts': 'ratekeeper/http',
  'src/provider/index.ts': 'ratekeeper/provider',
  'src/stores/redis/index.ts': 'ratekeeper/redis',
  'src/stores/postgres/index.ts': 'ratekeeper/postgres',
  'adapters/express.ts': 'ratekeeper/express',
  'adapters/koa.ts': 'ratekeeper/koa',
  'adapters/fastify.ts': 'ratekeeper/fastify',
  'adapters/fetch.ts': 'ratekeeper/fetch',
  'src/client/index.ts': 'ratekeeper/client',
}

/** The repository the package.json `repository` field names: source links and doc links point there. */
const REPOSITORY = 'https://github.com/ratekeeper/ratekeeper'
const docsPage = (page) => `${REPOSITORY}/blob/main/docs/${page}`

/**
 * Entry point → name → category, from docs/api-surface.md: under `` ## `ratekeeper/x` ``, each
 * `### Purpose` heading is the category of the `` - `name` `` items that follow it.
 */
function categoriesFromSurface() {
  const categories = new Map()
  let entry
  let category
  for (const line of readFileSync(join(root, 'docs/api-surface.md'), 'utf8').split('\n')) {
    const heading = /^##\s+`(ratekeeper(?:\/[\w-]+)?)`\s*$/.exec(line)
    if (heading) {
      entry = heading[1]
      category = undefined
      categories.set(entry, new Map())
      continue
    }
    if (/^#{1,2}\s/.test(line)) entry = undefined
    const sub = /^###\s+(.+?)\s*$/.exec(line)
    if (sub) category = sub[1]
    const item = /^- `([\w$]+)`/.exec(line)
    if (item && entry && category) categories.get(entry).set(item[1], category)
  }
  return categories
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
  sourceLinkTemplate: `${REPOSITORY}/blob/main/{path}#L{line}`,
  // Names listed by purpose (the categories below) rather than by kind.
  categorizeByGroup: false,
  defaultCategory: 'Other',
  // In the order docs/api-surface.md presents them.
  categoryOrder: [...new Set([...categoriesFromSurface().values()].flatMap((names) => [...names.values()])), '*'],
  // Links in TSDoc to things the reference does not show: to the guide that explains them.
  externalSymbolLinkMappings: {
    ratekeeper: {
      // The step functions a custom store calls (examples/custom-store.ts).
      'Policy.step': docsPage('stores.md#your-own-store'),
      NOT_AN_ADDRESS: docsPage('security.md'),
    },
  },
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
  // Each export's category: its ### section in docs/api-surface.md, as a `@category` tag.
  const categories = categoriesFromSurface()
  for (const mod of context.project.getReflectionsByKind(ReflectionKind.Module)) {
    const ofModule = categories.get(mod.name)
    for (const child of mod.children ?? []) {
      const category = ofModule?.get(child.name)
      if (category === undefined) continue
      const target = child.comment ?? child.signatures?.[0]?.comment
      const comment = target ?? (child.comment = new Comment())
      comment.blockTags.push(new CommentTag('@category', [{ kind: 'text', text: category }]))
    }
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
