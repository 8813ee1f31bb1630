import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { banner } from './redis.js'

/** True when a `redis-server` binary is on the PATH. */
export function hasRedisServer(): boolean {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  return r.status === 0
}

/**
 * Whether this suite can start its own redis-server processes; when it cannot, says loudly that
 * `suite` is skipped, and under CI=true throws instead (CI never skips).
 */
export function redisServerFor(suite: string): boolean {
  if (hasRedisServer()) return true
  banner(`redis-server is not on the PATH: ${suite} is SKIPPED`)
  if (process.env.CI === 'true') throw new Error(`redis-server is required for ${suite} under CI=true`)
  return false
}

/** A free loopback TCP port (bound then released; good enough for tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Servers this process started and has not stopped: killed on exit, even after a crash. */
const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
})

/** A redis-server process this test started: stopped, killed, paused and resumed by its PID. */
export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly pid: number
  readonly dir: string
  /** The process is running (it may be paused). */
  readonly running: boolean
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>
  /** SIGSTOP: the process freezes, connections stay open. */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** Starts a fresh process on the same port (after kill/stop). */
  restart(): Promise<void>
  /** Stops it for good and removes its directory. */
  stop(): Promise<void>
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Waits until `port` answers PING (or, when `child` is given, until it exits: its port was taken). */
export async function waitPing(port: number, timeoutMs = 10_000, child?: ChildProcess): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new PortTaken(`redis-server on port ${port} exited before answering (the port was taken?)`)
    }
    const client = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      connectTimeout: 500,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    client.on('error', () => {})
    try {
      await client.connect()
      if ((await client.ping()) === 'PONG') {
        if (child === undefined) return
        // The server that answers must be this one, not another that holds the port (its own exited).
        const pid = /process_id:(\d+)/.exec(await client.info('server'))?.[1]
        if (pid === String(child.pid)) return
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new PortTaken(`redis-server on port ${port}: another process answers there (the port was taken)`)
        }
      }
    } catch (error) {
      if (error instanceof PortTaken) throw error
      // not up yet
    } finally {
      client.disconnect()
    }
    if (Date.now() > until) throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`)
    await sleep(50)
  }
}

/** A server that exited before it answered: on a port picked as free, another process took it meanwhile. */
class PortTaken extends Error {}

/** Starts `redis-server` on a free loopback port, no persistence; `cluster` enables cluster mode. */
export async function startRedisServer(
  options: { cluster?: boolean; port?: number; nodeTimeoutMs?: number; args?: readonly string[] } = {},
): Promise<RedisServer> {
  let port = options.port ?? (await freePort())
  let dir = ''
  let args: string[] = []
  const prepare = () => {
    dir = mkdtempSync(join(tmpdir(), `rk-redis-${port}-`))
    args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir]
    if (options.cluster)
      args.push(
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        String(options.nodeTimeoutMs ?? 5000),
      )
    if (options.args) args.push(...options.args)
  }
  let child: ChildProcess
  const launch = async () => {
    const started = spawn('redis-server', args, { stdio: 'ignore' })
    child = started
    live.add(started)
    started.on('exit', () => live.delete(started))
    started.on('error', () => {})
    await waitPing(port, 10_000, started)
  }
  // A port picked as free can be taken before redis-server binds it (tests run in parallel): then another one.
  for (let attempt = 1; ; attempt++) {
    prepare()
    try {
      await launch()
      break
    } catch (error) {
      rmSync(dir, { recursive: true, force: true })
      if (!(error instanceof PortTaken) || options.port !== undefined || attempt >= 5) throw error
      port = await freePort()
    }
  }
  const pidOf = () => {
    const pid = child.pid
    if (pid === undefined) throw new Error('redis-server has no pid')
    return pid
  }
  let stopped = false
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return pidOf()
    },
    get running() {
      return child.exitCode === null && child.signalCode === null
    },
    dir,
    async kill() {
      process.kill(pidOf(), 'SIGCONT')
      process.kill(pidOf(), 'SIGKILL')
      await waitExit(child)
    },
    pause() {
      process.kill(pidOf(), 'SIGSTOP')
    },
    resume() {
      process.kill(pidOf(), 'SIGCONT')
    },
    async restart() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pidOf(), 'SIGCONT')
        process.kill(pidOf(), 'SIGKILL')
        await waitExit(child)
      }
      await launch()
    },
    async stop() {
      if (stopped) return
      stopped = true
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pidOf(), 'SIGCONT')
        process.kill(pidOf(), 'SIGTERM')
        const exited = waitExit(child)
        const timer = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(pidOf(), 'SIGKILL'), 3000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A Redis Cluster of `masters` redis-server processes (and `replicas` per master) on loopback. */
export interface RedisCluster {
  readonly nodes: readonly RedisServer[]
  readonly nodeTimeoutMs: number
  /** `{ host, port }` of every node, for `new Redis.Cluster(...)`. */
  readonly startupNodes: readonly { host: string; port: number }[]
  stop(): Promise<void>
}

export async function startCluster(
  masters = 3,
  options: { replicas?: number; nodeTimeoutMs?: number; args?: readonly string[] } = {},
): Promise<RedisCluster> {
  const nodes: RedisServer[] = []
  const replicas = options.replicas ?? 0
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 5000
  try {
    // Every node that started is kept (in order) even when another failed: the ones started are stopped below.
    const started = await Promise.allSettled(
      Array.from({ length: masters * (1 + replicas) }, () => startRedisServer({ cluster: true, nodeTimeoutMs, args: options.args })),
    )
    for (const r of started) if (r.status === 'fulfilled') nodes.push(r.value)
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    )
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`)
    await waitClusterHealthy(nodes, masters, replicas)
  } catch (error) {
    for (const node of nodes) await node.stop()
    throw error
  }
  return {
    nodes,
    nodeTimeoutMs,
    startupNodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    async stop() {
      for (const node of nodes) await node.stop()
    },
  }
}

/** One line of `CLUSTER NODES`. */
export interface ClusterNodeInfo {
  readonly id: string
  readonly port: number
  readonly flags: readonly string[]
  /** The master's id (replicas), else undefined. */
  readonly masterId: string | undefined
  /** Slot ranges served, `[from, to]` (masters). */
  readonly slots: readonly (readonly [number, number])[]
}

/** `CLUSTER NODES` as seen by the node on `port`. */
export async function clusterNodes(port: number): Promise<ClusterNodeInfo[]> {
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    const text = String(await client.cluster('NODES'))
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const parts = line.split(' ')
        const slots: [number, number][] = []
        for (const range of parts.slice(8)) {
          if (range.startsWith('[')) continue
          const [from, to] = range.split('-').map(Number)
          slots.push([from, to ?? from])
        }
        return {
          id: parts[0],
          port: Number(parts[1].split(':')[1].split('@')[0]),
          flags: parts[2].split(','),
          masterId: parts[3] === '-' ? undefined : parts[3],
          slots,
        }
      })
  } finally {
    client.disconnect()
  }
}

/**
 * Waits until every live node says `cluster_state:ok`, `masters` masters serve all slots, each
 * with `replicas` connected replicas, and the nodes agree.
 */
export async function waitClusterHealthy(
  nodes: readonly RedisServer[],
  masters: number,
  replicas: number,
  timeoutMs = 20_000,
): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    let healthy = true
    for (const node of nodes) {
      const client = new Redis({
        port: node.port,
        host: '127.0.0.1',
        maxRetriesPerRequest: 0,
        connectTimeout: 1000,
        retryStrategy: () => null,
      })
      client.on('error', () => {})
      const info = String(await client.cluster('INFO').catch(() => ''))
      const replication = String(await client.info('replication').catch(() => ''))
      client.disconnect()
      if (!info.includes('cluster_state:ok')) healthy = false
      if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) healthy = false
      if (!healthy) break
    }
    if (healthy) {
      const view = await clusterNodes(nodes[0].port).catch(() => [])
      const live = view.filter((n) => !n.flags.includes('fail') && !n.flags.includes('fail?'))
      const liveMasters = live.filter((n) => n.flags.includes('master') && n.slots.length > 0)
      const liveReplicas = live.filter((n) => n.flags.includes('slave'))
      if (liveMasters.length !== masters || liveReplicas.length !== masters * replicas) healthy = false
    }
    if (healthy) return
    if (Date.now() > until) throw new Error(`the cluster did not become healthy within ${timeoutMs} ms`)
    await sleep(100)
  }
}
