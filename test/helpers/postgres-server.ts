import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort } from './redis-servers.js'

/** The directory of the machine's PostgreSQL binaries (initdb, postgres), or undefined. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a))
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'postgres'))) return join(root, v, 'bin')
  return undefined
}

/** PIDs whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) found.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return found
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim())
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim())
  return Number.isInteger(uid) && uid > 0 ? { uid, gid } : undefined
}

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
})

/** A postgres this test started on a free loopback port, controlled by its PID. */
export interface PostgresServer {
  readonly url: string
  readonly pid: number
  /** SIGKILL, as a crash would (connections drop). */
  kill(): Promise<void>
  /** SIGSTOP to the postmaster and each of its children (backends run in sessions of their own). */
  pause(): void
  resume(): void
  /** Starts it again on the same port and data. */
  restart(): Promise<void>
  /** Stops it for good and removes its data. */
  stop(): Promise<void>
}

/** Starts a throwaway PostgreSQL (initdb into a temp dir, trust auth, user `postgres`). */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBin()
  if (bin === undefined) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql')
  const as = runAs()
  const dir = mkdtempSync(join(tmpdir(), 'rk-pg-'))
  if (as !== undefined) chownSync(dir, as.uid, as.gid)
  const init = spawnSync(join(bin, 'initdb'), ['-D', dir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'], {
    encoding: 'utf8',
    ...as,
  })
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
  const port = await freePort()
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  let child: ChildProcess
  let paused: number[] = []
  const launch = async () => {
    child = spawn(
      join(bin, 'postgres'),
      ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'max_connections=30'],
      { stdio: 'ignore', ...as },
    )
    live.add(child)
    for (let i = 0; i < 100; i++) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 500 })
      client.on('error', () => {})
      try {
        await client.connect()
        await client.end()
        return
      } catch {
        await client.end().catch(() => {})
        await sleep(100)
      }
    }
    throw new Error('the test PostgreSQL did not start within 10 s')
  }
  const exited = () =>
    new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))
  const signal = (sig: NodeJS.Signals) => {
    if (child.pid !== undefined) process.kill(child.pid, sig)
  }
  await launch()
  return {
    url,
    get pid() {
      return child.pid ?? -1
    },
    kill: async () => {
      signal('SIGKILL')
      await exited()
      live.delete(child)
      // Its backends die with it once they notice; postmaster.pid must go before a restart.
      await sleep(300)
    },
    pause: () => {
      if (child.pid === undefined) return
      // The postmaster first: stopped, it forks no backend that the list below would miss (a list
      // read before stopping it left a backend forked meanwhile running through the freeze).
      process.kill(child.pid, 'SIGSTOP')
      paused = [child.pid, ...childrenOf(child.pid)]
      for (const pid of paused.slice(1)) process.kill(pid, 'SIGSTOP')
    },
    resume: () => {
      for (const pid of paused.splice(0)) process.kill(pid, 'SIGCONT')
    },
    restart: launch,
    stop: async () => {
      for (const pid of paused.splice(0)) process.kill(pid, 'SIGCONT')
      signal('SIGINT')
      await exited()
      live.delete(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
