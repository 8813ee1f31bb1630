import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { banner } from './redis.js'
import { freePort } from './redis-servers.js'

/** True when a `pgbouncer` binary is on the PATH (Debian: `apt-get install pgbouncer`). */
export function hasPgBouncer(): boolean {
  return spawnSync('pgbouncer', ['--version'], { encoding: 'utf8' }).status === 0
}

/**
 * Whether `suite` can start its own PgBouncer; when it cannot, says so loudly, and under CI=true
 * throws instead (CI never skips; `.ci/run` installs it where it can).
 */
export function pgBouncerFor(suite: string): boolean {
  if (hasPgBouncer()) return true
  banner(`pgbouncer is not on the PATH: ${suite} is SKIPPED (Debian: apt-get install pgbouncer)`)
  if (process.env.CI === 'true') throw new Error(`pgbouncer is required for ${suite} under CI=true (Debian: apt-get install pgbouncer)`)
  return false
}

/** A PgBouncer this test started, in front of the PostgreSQL at `target`; stopped by its PID. */
export interface PgBouncer {
  readonly url: string
  stop(): Promise<void>
}

/**
 * Starts PgBouncer on a free loopback port in `poolMode` ('transaction' hands each transaction to
 * whichever server connection is free), with `serverConnections` connections to the database.
 */
export async function startPgBouncer(
  target: string,
  {
    poolMode = 'transaction',
    serverConnections = 2,
  }: { poolMode?: 'session' | 'transaction' | 'statement'; serverConnections?: number } = {},
): Promise<PgBouncer> {
  const t = new URL(target)
  const database = t.pathname.slice(1) || 'postgres'
  const user = decodeURIComponent(t.username || 'postgres')
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'rk-pgbouncer-'))
  // PgBouncer refuses to run as root: it then runs as `nobody`, who must read and write here.
  chmodSync(dir, 0o777)
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`, { mode: 0o644 })
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${database} = host=${t.hostname} port=${t.port || 5432} dbname=${database} user=${user}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      `pool_mode = ${poolMode}`,
      `default_pool_size = ${serverConnections}`,
      'max_client_conn = 500',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
    { mode: 0o644 },
  )
  const args = process.getuid?.() === 0 ? ['-u', 'nobody', join(dir, 'pgbouncer.ini')] : [join(dir, 'pgbouncer.ini')]
  const child: ChildProcess = spawn('pgbouncer', args, { stdio: 'ignore' })
  const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  for (const started = Date.now(); ; ) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 500 })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.query('SELECT 1')
      await client.end()
      return { url, stop }
    } catch (error) {
      await client.end().catch(() => {})
      if (child.exitCode !== null || Date.now() - started > 10_000) {
        await stop()
        throw new Error(`PgBouncer did not start on port ${port}: ${(error as Error).message}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}
