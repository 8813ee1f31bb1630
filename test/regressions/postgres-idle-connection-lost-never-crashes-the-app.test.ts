// An app set up as docs/stores.md shows (a pg Pool with no 'error' listener) crashed when
// PostgreSQL restarted: each idle connection of the pool that lost its server made the pool emit
// 'error', and an 'error' event nobody listens to throws ("Unhandled 'error' event"), ending the
// process. The store now listens on the pool (and on a pg Client), reports the lost connection
// once as a warning (RK_POSTGRES_CONNECTION), and the limiter applies onStoreError meanwhile.

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PostgresServer, postgresBin, startPostgres } from '../helpers/postgres-server.js'

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))

function app(url: string): string {
  return `import pg from 'pg'
import { createLimiter, tokenBucket } from ${JSON.stringify(join(root, 'src/index.ts'))}
import { PostgresStore } from ${JSON.stringify(join(root, 'src/stores/postgres/index.ts'))}

const pool = new pg.Pool({ connectionString: ${JSON.stringify(url)}, max: 4 })
const store = new PostgresStore({ pool })
await store.createSchema()
const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 100, window: '1m' })], onStoreError: 'deny' })
limiter.on('warn', (info) => console.log('warn', info.code))
await Promise.all([1, 2, 3, 4].map((i) => limiter.consume('k' + i)))
console.log('ready', pool.idleCount)
process.stdin.on('data', async () => {
  const d = await limiter.consume('k')
  console.log('decided', d.reason)
  process.exit(0)
})
`
}

describe.skipIf(postgresBin() === undefined)('an app whose pool has no error listener, when PostgreSQL stops (own server)', () => {
  let server: PostgresServer
  let child: ChildProcess | undefined

  beforeAll(async () => {
    server = await startPostgres()
  }, 30_000)

  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL')
    await server.stop().catch(() => {})
  })

  it('keeps running, hears the lost connections as one warning, and decides by onStoreError', async () => {
    const dir = join(root, '.tmp', 'pg-crash')
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `app-${process.pid}.mts`)
    writeFileSync(file, app(server.url))
    const started = spawn(join(root, 'node_modules', '.bin', 'tsx'), [file], { stdio: ['pipe', 'pipe', 'pipe'] })
    child = started
    const exited = new Promise<number | null>((done) => started.on('exit', (code) => done(code)))
    let out = ''
    started.stdout?.on('data', (d) => {
      out += d
    })
    started.stderr?.on('data', (d) => {
      out += d
    })
    for (let i = 0; i < 300 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50))
    expect(out).toMatch(/ready [1-4]/)
    await server.kill()
    // The pool's idle connections notice at once; give the app time to crash if it would.
    await new Promise((r) => setTimeout(r, 1000))
    expect(started.exitCode, out).toBe(null)
    started.stdin?.write('go\n')
    expect(await exited, out).toBe(0)
    expect(out).toContain('decided store-error')
    expect(out.match(/warn RK_POSTGRES_CONNECTION/g)).toHaveLength(1)
    // Up again, so that afterAll stops it as it stops any.
    await server.restart()
  }, 60_000)
})
