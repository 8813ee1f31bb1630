#!/usr/bin/env node
// Tests the package as a user receives it: the tarball `npm pack` makes from the built dist/.
//
//   1. every file package.json points at (exports, main, module, types) was built;
//   2. publint on the tarball (warnings count as failures);
//   3. @arethetypeswrong/cli on the tarball, every profile (node10 through typesVersions, node16
//      from ESM and CommonJS, bundler);
//   4. the tarball unpacked into a throwaway project under .tmp/ (Node finds lru-cache, ioredis,
//      express… in this repo's node_modules by walking up), then, for every subpath export:
//      - the import graph of the built files names no package the subpath must not load
//        (an Express user never loads Fastify or ioredis), in both formats;
//      - `import` (ESM) and `require` (CommonJS) each in a fresh process: the named exports exist,
//        and the packages actually loaded are only the allowed ones;
//      - `require('ratekeeper/fastify')` is the plugin function itself, its named exports attached;
//      - the docs' CommonJS examples (```js blocks marked check=package) run and print what they say;
//      - a consumer .mts and .cts file type-checks against the published declarations.
//
// Run after `npm run build` (`npm test` does). Exits non-zero with a list of what failed.
// RK_KEEP_TMP=1 keeps the throwaway project for inspection.

import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

/**
 * What each subpath export must provide, and the packages its code may load besides Node's
 * built-ins. A subpath in package.json that is missing here (or the reverse) is a failure, so
 * this list and the exports map cannot drift apart.
 */
const subpaths = {
  '.': {
    names: ['createLimiter', 'tokenBucket', 'slidingWindow', 'fixedWindow', 'MemoryStore', 'RateKeeperError', 'ConfigurationError'],
    allowed: ['lru-cache'],
  },
  './http': {
    names: ['createHttpLimiter', 'apiKey', 'ipKey', 'userKey', 'allowList', 'normalizeIp', 'rateLimitHeaders', 'limitedBody'],
    allowed: ['lru-cache'],
  },
  './provider': {
    names: ['requestClasses', 'providerPlan', 'tierByPrefix', 'cachedLookup', 'rateLimitsHandler', 'upstreamRateLimit'],
    allowed: ['lru-cache'],
  },
  // ioredis and iovalkey (its fork) are loaded lazily, only to build the script command as the client's own methods would.
  './redis': { names: ['RedisStore'], allowed: ['lru-cache', 'ioredis', 'iovalkey'] },
  './postgres': { names: ['PostgresStore'], allowed: ['lru-cache'] },
  './express': { names: ['rateLimit'], allowed: ['lru-cache', 'express'] },
  './koa': { names: ['rateLimit'], allowed: ['lru-cache', 'koa'] },
  // A Fastify plugin is the module itself under require(), its named exports as properties.
  './fastify': {
    names: ['default', 'fastifyRateLimit', 'rateLimitsRoute'],
    allowed: ['lru-cache', 'fastify', 'fastify-plugin'],
    defaultIsModule: true,
  },
  './fetch': { names: ['rateLimit'], allowed: ['lru-cache'] },
  './client': { names: ['createClient', 'RateLimitError', 'parseRateLimitHeaders'], allowed: ['lru-cache'] },
  // The exporters take the caller's registry or meter: neither prom-client nor the OpenTelemetry API is loaded.
  './metrics': { names: ['prometheusMetrics', 'openTelemetryMetrics', 'topLimited', 'SpaceSaving'], allowed: ['lru-cache'] },
}

/**
 * attw rules switched off, each with the reason. Empty: nothing has needed it. A rule goes here
 * only when the finding is a proven false positive, never to get a red build green.
 */
const ignoredAttwRules = []

/**
 * The packages a subpath must not load at run time unless it lists them in `allowed`. (Their own
 * dependencies are theirs: ioredis may load denque. The static graph check is the strict one.)
 */
const heavy = ['express', 'koa', '@koa/router', 'fastify', 'fastify-plugin', 'ioredis', 'pg', 'hono', 'prom-client', '@opentelemetry/api']

const failures = []
const fail = (message) => {
  failures.push(message)
  console.error(`  ✗ ${message}`)
}
const pass = (message) => console.log(`  ✓ ${message}`)
const step = (title) => console.log(`\n${title}`)

/** Files package.json names that dist/ lacks, and the subpaths they belong to (reported once, in step 1; later steps skip them). */
const missingFiles = new Set()
const unbuilt = new Set()
const built = (subpath) => Boolean(pkg.exports?.[subpath]) && !unbuilt.has(subpath)

const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]))
const packageName = (specifier) => {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/** The path of a dev dependency's command, from its package.json "bin" (its exports may hide it). */
function binOf(name, command) {
  const manifest = join(root, 'node_modules', name, 'package.json')
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'))
  return join(dirname(manifest), typeof bin === 'string' ? bin : bin[command])
}

/** Every file an exports entry points at, with its condition path, e.g. ['./koa', 'require', 'types']. */
function exportTargets(value, path) {
  if (typeof value === 'string') return [{ path, file: value }]
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([key, inner]) => exportTargets(inner, [...path, key]))
}

function checkBuilt() {
  step('1. built files')
  if (!existsSync(join(root, 'dist'))) {
    fail('dist/ does not exist: run `npm run build` first')
    return
  }
  const exported = Object.keys(pkg.exports ?? {}).filter((key) => key !== './package.json')
  for (const key of exported) if (!(key in subpaths)) fail(`package.json exports "${key}", which scripts/check-package.mjs does not know`)
  for (const key of Object.keys(subpaths)) if (!exported.includes(key)) fail(`package.json does not export "${key}"`)

  const targets = [
    ...exportTargets(pkg.exports, ['exports']),
    ...['main', 'module', 'types'].filter((field) => pkg[field]).map((field) => ({ path: [field], file: pkg[field] })),
  ]
  // Grouped by subpath (or top-level field): one line per export that was not built.
  const missingByEntry = new Map()
  for (const { path, file } of targets) {
    if (existsSync(join(root, file))) continue
    missingFiles.add(file)
    if (path[0] === 'exports') unbuilt.add(path[1])
    const entry = path[0] === 'exports' ? `exports["${path[1]}"]` : path[0]
    missingByEntry.set(entry, [...(missingByEntry.get(entry) ?? []), file])
  }
  for (const [entry, files] of missingByEntry) {
    fail(`package.json ${entry} points at files that were not built: ${files.join(', ')} (does its source exist? see tsup.config.ts)`)
  }
  if (missingFiles.size === 0) pass(`all ${targets.length} files named by package.json exist`)
}

function pack(tmp) {
  step('2. npm pack')
  const output = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const [info] = JSON.parse(output.slice(output.indexOf('[')))
  const tarball = join(tmp, info.filename)
  const strays = info.files.map((file) => file.path).filter((path) => !/^(dist\/|package\.json$|README\.md$|LICENSE)/.test(path))
  if (strays.length > 0) fail(`the tarball contains files outside dist/: ${strays.join(', ')}`)
  pass(
    `${info.filename}: ${info.entryCount} files, ${(info.size / 1024).toFixed(1)} kB packed, ${(info.unpackedSize / 1024).toFixed(1)} kB unpacked`,
  )
  return tarball
}

async function runPublint(tarball) {
  step('3. publint')
  const { publint } = await import('publint')
  const { formatMessage, getPkgPathValue } = await import('publint/utils')
  const data = readFileSync(tarball)
  const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)
  const { messages, pkg: packed } = await publint({ pack: { tarball: buffer }, level: 'suggestion', strict: true })
  let problems = 0
  for (const message of messages) {
    if (message.code === 'FILE_DOES_NOT_EXIST' && missingFiles.has(getPkgPathValue(packed, message.path))) continue
    const text = `publint ${message.type} ${message.code}: ${formatMessage(message, packed, { color: false })}`
    if (message.type === 'suggestion') console.log(`  • ${text}`)
    else {
      problems++
      fail(text)
    }
  }
  if (problems === 0) pass(`publint: no errors or warnings${missingFiles.size > 0 ? ' (beyond the unbuilt files above)' : ''}`)
}

function runAttw(tarball) {
  step('4. @arethetypeswrong/cli (every resolution: node10, node16 from CJS and ESM, bundler)')
  const args = [binOf('@arethetypeswrong/cli', 'attw'), tarball, '--format', 'table', '--no-color']
  if (ignoredAttwRules.length > 0) args.push('--ignore-rules', ...ignoredAttwRules)
  if (unbuilt.size > 0) args.push('--exclude-entrypoints', ...unbuilt)
  const run = spawnSync(process.execPath, args, { encoding: 'utf8' })
  const output = `${run.stdout}${run.stderr}`.trim()
  if (run.status === 0) pass('attw: no problems')
  else {
    console.error(output.replace(/^/gm, '    '))
    fail(`attw found problems (exit ${run.status}); see the table above`)
  }
}

function unpack(tarball, tmp) {
  const project = join(tmp, 'project')
  const installed = join(project, 'node_modules', 'ratekeeper')
  mkdirSync(installed, { recursive: true })
  execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'])
  // A package.json of its own, so 'ratekeeper' resolves to node_modules, never to this repo.
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'ratekeeper-smoke', private: true, type: 'module' }))
  return { project, installed }
}

/**
 * The bare packages the built file reaches through its own (relative) imports, recursively.
 * TypeScript's pre-processor finds import/export-from/require()/import() with a real scanner, so
 * text that merely looks like an import (in a Lua script or a comment) is not mistaken for one.
 */
function importGraph(entry) {
  const seen = new Set()
  const packages = new Set()
  const visit = (file) => {
    if (seen.has(file)) return
    seen.add(file)
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
    for (const { fileName: specifier } of importedFiles) {
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier))
      else if (!builtins.has(specifier)) packages.add(packageName(specifier))
    }
  }
  visit(entry)
  return { files: seen.size, packages: [...packages].sort() }
}

function checkGraphs(installed) {
  step('5. import graph of every built entry (static)')
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'))
  for (const [subpath, { allowed }] of Object.entries(subpaths)) {
    const conditions = manifest.exports?.[subpath]
    if (!conditions || !built(subpath)) continue
    for (const format of ['import', 'require']) {
      const file = conditions[format]?.default
      if (!file || !existsSync(join(installed, file))) continue
      const { files, packages } = importGraph(join(installed, file))
      const forbidden = packages.filter((name) => !allowed.includes(name))
      const label = `ratekeeper${subpath.slice(1)} (${format})`
      if (forbidden.length > 0) fail(`${label} imports ${forbidden.join(', ')}; allowed: ${allowed.join(', ')}`)
      else pass(`${label}: ${files} file(s), imports ${packages.join(', ') || 'nothing outside node:'}`)
    }
  }
}

const esmProbe = `
const [spec] = process.argv.slice(-1)
const mod = await import(spec)
let works
if (spec === 'ratekeeper') {
  const limiter = mod.createLimiter({ policies: [mod.tokenBucket({ limit: 2, window: '1m' })] })
  const decision = await limiter.consume('smoke')
  works = decision.allowed === true && decision.remaining === 1
  await limiter.close()
}
console.log(JSON.stringify({ names: Object.keys(mod), works, kind: typeof mod, defaultKind: typeof mod.default }))
`

const cjsProbe = `
const [spec] = process.argv.slice(-1)
const mod = require(spec)
const loaded = Object.keys(require.cache)
const done = (works) =>
  console.log(JSON.stringify({ names: Object.keys(mod), works, loaded, resolved: require.resolve(spec), kind: typeof mod, isDefault: mod.default === mod }))
if (spec === 'ratekeeper') {
  const limiter = mod.createLimiter({ policies: [mod.tokenBucket({ limit: 2, window: '1m' })] })
  limiter.consume('smoke').then(async (decision) => { await limiter.close(); done(decision.allowed === true && decision.remaining === 1) })
} else done(undefined)
`

// Records every URL the ESM loader resolves (Node 20.6+ module.register), one per line.
const traceHooks = `
import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context)
  appendFileSync(process.env.RK_TRACE_FILE, result.url + '\\n')
  return result
}
`
const traceRegister = `
import { register } from 'node:module'
register('./trace-hooks.mjs', import.meta.url)
`

function loadedPackages(paths) {
  const names = new Set()
  for (const path of paths) {
    const match = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(decodeURIComponent(path))
    if (match && match[1] !== 'ratekeeper') names.add(match[1].replace('\\', '/'))
  }
  return [...names].sort()
}

function checkRuntime(project, installed) {
  step('6. import (ESM) and require (CommonJS) of every subpath, each in a fresh process')
  writeFileSync(join(project, 'probe.mjs'), esmProbe)
  writeFileSync(join(project, 'probe.cjs'), cjsProbe)
  writeFileSync(join(project, 'trace-hooks.mjs'), traceHooks)
  writeFileSync(join(project, 'trace-register.mjs'), traceRegister)
  for (const [subpath, { names, allowed, defaultIsModule }] of Object.entries(subpaths)) {
    const spec = `ratekeeper${subpath.slice(1)}`
    if (!built(subpath)) continue
    for (const format of ['esm', 'cjs']) {
      const label = `${format === 'esm' ? 'import' : 'require'}('${spec}')`
      const trace = join(project, `trace-${format}-${subpath.slice(2) || 'index'}.txt`)
      writeFileSync(trace, '')
      const args = format === 'esm' ? ['--import', './trace-register.mjs', 'probe.mjs', spec] : ['probe.cjs', spec]
      const run = spawnSync(process.execPath, args, {
        cwd: project,
        encoding: 'utf8',
        env: { ...process.env, RK_TRACE_FILE: trace },
        timeout: 30_000,
      })
      if (run.status !== 0) {
        const lines = `${run.stderr}${run.stdout}`.trim().split('\n')
        const error = lines.find((line) => /^\w*Error\b/.test(line)) ?? lines[0]
        console.error(lines.map((line) => `      ${line}`).join('\n'))
        fail(`${label} failed (exit ${run.status}): ${error}`)
        continue
      }
      const result = JSON.parse(run.stdout.trim().split('\n').pop())
      const missing = names.filter((name) => !result.names.includes(name))
      const loaded = loadedPackages(format === 'esm' ? readFileSync(trace, 'utf8').split('\n').filter(Boolean) : result.loaded)
      const forbidden = loaded.filter((name) => heavy.includes(name) && !allowed.includes(name))
      const problems = []
      if (missing.length > 0) problems.push(`missing exports ${missing.join(', ')} (has ${result.names.join(', ') || 'none'})`)
      if (forbidden.length > 0) problems.push(`loaded ${forbidden.join(', ')}`)
      if (result.works === false) problems.push('a token bucket of 2 did not allow one request with 1 remaining')
      if (defaultIsModule && format === 'cjs' && (result.kind !== 'function' || !result.isDefault))
        problems.push(
          `require() returned ${result.kind === 'function' ? 'a function whose .default is not itself' : `a${result.kind === 'object' ? 'n' : ''} ${result.kind}`}, not the plugin function`,
        )
      if (defaultIsModule && format === 'esm' && result.defaultKind !== 'function')
        problems.push(`the default export is a ${result.defaultKind}, not the plugin function`)
      if (result.resolved && !resolve(result.resolved).startsWith(installed))
        problems.push(`resolved to ${result.resolved}, not the unpacked tarball`)
      if (problems.length > 0) fail(`${label}: ${problems.join('; ')}`)
      else
        pass(
          `${label}: ${defaultIsModule && format === 'cjs' ? 'the plugin function, with ' : ''}${names.join(', ')}${result.works ? ', decides' : ''}; loads ${loaded.join(', ') || 'no other package'}`,
        )
    }
  }
}

/** The ```js blocks of the docs marked `check=package`: CommonJS examples that only the built package can run. */
function packageBlocks() {
  const blocks = []
  for (const file of ['README.md', 'docs/getting-started.md']) {
    const text = readFileSync(join(root, file), 'utf8')
    for (const match of text.matchAll(/^```js[^\n]*\bcheck=package\b[^\n]*\n([\s\S]*?)^```\s*$/gm)) blocks.push({ file, code: match[1] })
  }
  return blocks
}

function checkDocsCommonJs(project) {
  step('7. the CommonJS examples of the docs (blocks marked check=package), run against the package')
  const blocks = packageBlocks()
  if (blocks.length === 0) fail('no ```js check=package block found in docs/getting-started.md')
  blocks.forEach(({ file, code }, i) => {
    const script = join(project, `docs-block-${i + 1}.cjs`)
    writeFileSync(script, code)
    const expected = [...code.matchAll(/\/\/ → (.*)$/gm)].map((m) => m[1].trim())
    const run = spawnSync(process.execPath, [script], { cwd: project, encoding: 'utf8', timeout: 30_000 })
    const printed = run.stdout.trim().split('\n').filter(Boolean)
    if (run.status !== 0) fail(`${file} CommonJS block ${i + 1} failed (exit ${run.status}): ${run.stderr.trim().split('\n')[0]}`)
    else if (JSON.stringify(printed) !== JSON.stringify(expected))
      fail(`${file} CommonJS block ${i + 1} printed ${JSON.stringify(printed)}, the block says ${JSON.stringify(expected)}`)
    else pass(`${file} CommonJS block ${i + 1}: runs, prints what it says`)
  })
}

function checkTypes(project) {
  step('8. a consumer type-checks against the published declarations (module node16: .mts and .cts)')
  const lines = []
  for (const [subpath, { names }] of Object.entries(subpaths)) {
    if (!built(subpath)) continue
    const alias = subpath.slice(2) || 'root'
    const named = names.filter((name) => name !== 'default').map((name) => `${name} as ${alias}_${name}`)
    if (names.includes('default')) lines.push(`import ${alias}_default from 'ratekeeper${subpath.slice(1)}'`)
    if (named.length > 0) lines.push(`import { ${named.join(', ')} } from 'ratekeeper${subpath.slice(1)}'`)
    lines.push(...names.map((name) => `void ${alias}_${name}`))
  }
  writeFileSync(join(project, 'consumer.mts'), `${lines.join('\n')}\n`)
  writeFileSync(join(project, 'consumer.cts'), `${lines.join('\n')}\nexport {}\n`)
  const config = {
    compilerOptions: {
      module: 'node16',
      moduleResolution: 'node16',
      target: 'ES2022',
      lib: ['ES2023', 'DOM'],
      types: ['node'],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      esModuleInterop: true,
    },
    files: ['consumer.mts', 'consumer.cts'],
  }
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(config, null, 2))
  const run = spawnSync(process.execPath, [binOf('typescript', 'tsc'), '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' })
  // Errors inside third-party declarations are theirs; ours are in the consumer or in dist/.
  const errors = `${run.stdout}${run.stderr}`
    .split('\n')
    .filter((line) => /error TS/.test(line))
    .filter((line) => !/node_modules[\\/](?!ratekeeper[\\/])/.test(line.split('(')[0]))
  if (errors.length > 0) {
    console.error(errors.map((line) => `    ${line}`).join('\n'))
    fail(`the published declarations do not type-check for a node16 consumer (${errors.length} error(s))`)
  } else pass('consumer.mts (import condition) and consumer.cts (require condition) type-check')
}

async function main() {
  console.log(`ratekeeper package check (${relative(process.cwd(), root) || '.'})`)
  checkBuilt()
  if (!existsSync(join(root, 'dist'))) return
  mkdirSync(join(root, '.tmp'), { recursive: true })
  const tmp = mkdtempSync(join(root, '.tmp', 'package-check-'))
  try {
    const tarball = pack(tmp)
    await runPublint(tarball)
    runAttw(tarball)
    const { project, installed } = unpack(tarball, tmp)
    checkGraphs(installed)
    checkRuntime(project, installed)
    checkDocsCommonJs(project)
    checkTypes(project)
  } finally {
    if (process.env.RK_KEEP_TMP === '1' || failures.length > 0) console.log(`\n(kept ${relative(root, tmp)} for inspection)`)
    else rmSync(tmp, { recursive: true, force: true })
  }
}

await main().catch((error) => fail(`the check itself crashed: ${error?.stack ?? error}`))
if (failures.length > 0) {
  console.error(`\npackage check FAILED: ${failures.length} problem(s)`)
  for (const message of failures) console.error(`  - ${message.split('\n')[0]}`)
  process.exitCode = 1
} else {
  console.log('\npackage check passed')
}
