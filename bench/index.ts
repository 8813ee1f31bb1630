// `npm run bench [-- section…]`: runs the benchmark sections (all but the on-request ones by default), prints their
// results and rewrites docs/benchmarks.md, keeping the sections that were not run this time.

import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { renderReport, renderSection } from './report.js'
import type { BenchModule } from './types.js'

/** Every section, in report order: bench/<name>.ts exporting `run` (see bench/types.ts). */
const SECTIONS = ['memory', 'lists', 'redis', 'redis-clients', 'postgres', 'http', 'instructions', 'leases'] as const
/**
 * Sections that run only when named: `instructions` needs valgrind and about ten minutes;
 * `postgres` needs a PostgreSQL (DATABASE_URL) and about a minute; `leases` (a simulation, then
 * processes on a Redis of its own) about a minute.
 */
const ON_REQUEST: readonly string[] = ['instructions', 'postgres', 'leases']

const root = fileURLToPath(new URL('..', import.meta.url))
const reportPath = `${root}docs/benchmarks.md`

async function redisVersion(): Promise<string> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const { Redis } = await import('ioredis')
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    const info = await client.info('server')
    return `${/redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown version'} (${url})`
  } catch (error) {
    return `not reachable at ${url} (${error instanceof Error ? error.message : String(error)})`
  } finally {
    client.disconnect()
  }
}

function gitRevision(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
    return dirty ? `${rev} (with uncommitted changes)` : rev
  } catch {
    return 'no commit yet'
  }
}

async function machine(): Promise<{ header: string; short: string }> {
  const cpu = cpus()
  const model = cpu[0]?.model.trim() ?? 'unknown CPU'
  const ram = `${(totalmem() / 2 ** 30).toFixed(1)} GiB`
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')
  const header = [
    `- CPU: ${model}, ${cpu.length} cores`,
    `- RAM: ${ram}`,
    `- OS: ${process.platform} ${release()}`,
    `- Node: ${process.version} (V8 ${process.versions.v8})`,
    `- Redis: ${await redisVersion()}`,
    `- Date: ${date}`,
    `- Load average when the run started (1, 5, 15 min): ${load}`,
    `- ratekeeper: ${gitRevision()}, the built package (dist/)`,
  ].join('\n')
  return { header, short: `${date.slice(0, 16).replace('T', ' ')} UTC on ${model} ×${cpu.length}, Node ${process.version}` }
}

/**
 * The library under test is the built package (dist/), as users run it: `npm run bench` builds it
 * and runs with bench/tsconfig.json, whose empty `paths` let `ratekeeper/*` resolve through
 * package.json `exports`. Run from the sources, every closure the library creates per request
 * would pay tsx's name-keeping helper, a cost the package does not have.
 */
function libraryUnderTest(): string {
  const resolved = fileURLToPath(import.meta.resolve('ratekeeper'))
  if (!resolved.startsWith(`${root}dist/`)) {
    throw new Error(
      `bench: 'ratekeeper' resolves to ${resolved}, not the built package; run the benchmarks with \`npm run bench\` (it builds dist/ and sets TSX_TSCONFIG_PATH=bench/tsconfig.json)`,
    )
  }
  return resolved
}

async function main(): Promise<void> {
  libraryUnderTest()
  const requested = process.argv.slice(2).filter((arg) => arg !== '--')
  const unknown = requested.filter((name) => !(SECTIONS as readonly string[]).includes(name))
  if (unknown.length > 0) {
    console.error(`unknown bench section(s): ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`)
    process.exitCode = 2
    return
  }
  const selected =
    requested.length > 0 ? SECTIONS.filter((name) => requested.includes(name)) : SECTIONS.filter((name) => !ON_REQUEST.includes(name))
  const { header, short } = await machine()
  console.log(`ratekeeper benchmarks: ${selected.join(', ')}\n\n${header}\n`)

  const fresh = new Map<string, string>()
  let failed = 0
  for (const name of selected) {
    const file = new URL(`./${name}.ts`, import.meta.url)
    if (!existsSync(file)) {
      console.log(`## ${name}: skipped, bench/${name}.ts does not exist yet (the previous results, if any, are kept)\n`)
      continue
    }
    console.error(`section ${name}:`)
    const started = Date.now()
    try {
      const module = (await import(file.href)) as Partial<BenchModule>
      if (typeof module.run !== 'function') throw new Error(`bench/${name}.ts does not export run()`)
      const section = await module.run()
      fresh.set(name, renderSection(name, section, short))
      console.log(`## ${section.title}\n\n${section.markdown.trim()}\n`)
      console.error(`section ${name}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    } catch (error) {
      failed++
      console.error(`section ${name} FAILED (its previous results are kept):`, error)
    }
  }

  if (fresh.size > 0) {
    const previous = existsSync(reportPath) ? readFileSync(reportPath, 'utf8') : ''
    writeFileSync(reportPath, renderReport({ header, order: SECTIONS, fresh, previous }))
    console.log(`wrote docs/benchmarks.md (${[...fresh.keys()].join(', ')} updated)`)
  }
  if (failed > 0) process.exitCode = 1
}

await main()
