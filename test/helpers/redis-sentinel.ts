// Redis Sentinel for tests: a master, its replica and three sentinels, each a process of its own
// on a free loopback port, stopped (or killed, paused) by PID.

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { withNode } from './redis-cluster-ops.js'
import { freePort, type RedisServer, startRedisServer, waitPing } from './redis-servers.js'

/** The name the sentinels monitor the master by. */
export const SENTINEL_MASTER = 'rk-master'

export interface SentinelGroup {
  /** The first master, then its replica (their roles swap on a failover). */
  readonly servers: readonly RedisServer[]
  /** The sentinels' ports, for `new Redis({ sentinels, name })`. */
  readonly sentinels: readonly { host: string; port: number }[]
  /** The port of the master the sentinels name now. */
  masterPort(): Promise<number>
  /** Waits until the sentinels name a master other than `port`, and it answers as master. */
  waitFailover(port: number, timeoutMs?: number): Promise<number>
  stop(): Promise<void>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Sentinels this process started and has not stopped: killed on exit, even after a crash. A
 * sentinel left behind would go on reconfiguring whatever server later takes its master's port
 * (another suite's Cluster node, say).
 */
const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

/** A master, one replica (both started with `args`), three sentinels (quorum 2, a master down after `downAfterMs`). */
export async function startSentinelGroup(options: { downAfterMs?: number; args?: readonly string[] } = {}): Promise<SentinelGroup> {
  const downAfterMs = options.downAfterMs ?? 1000
  const args = options.args ?? []
  const master = await startRedisServer({ args })
  const replica = await startRedisServer({ args: [...args, '--replicaof', '127.0.0.1', String(master.port)] })
  const children: ChildProcess[] = []
  const dirs: string[] = []
  const sentinels: { host: string; port: number }[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), `rk-sentinel-${port}-`))
    dirs.push(dir)
    const conf = join(dir, 'sentinel.conf')
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} ${downAfterMs}`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
        `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
        '',
      ].join('\n'),
    )
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
    child.on('error', () => {})
    children.push(child)
    live.add(child)
    child.on('exit', () => live.delete(child))
    await waitPing(port, 10_000)
    sentinels.push({ host: '127.0.0.1', port })
  }
  /** What the first sentinel that answers says of the master: the `SENTINEL` subcommand `args`. */
  const askSentinels = async (...args: string[]): Promise<unknown> => {
    for (const s of sentinels) {
      try {
        return await withNode(s.port, (client) => client.call('SENTINEL', ...args, SENTINEL_MASTER))
      } catch {
        // ask the next
      }
    }
    return undefined
  }
  /** The port of the master the sentinels name; undefined when none answers. */
  const ask = async (): Promise<number | undefined> => {
    const address = (await askSentinels('get-master-addr-by-name')) as [string, string] | undefined
    return address === undefined ? undefined : Number(address[1])
  }
  // The replica in sync and known to the sentinels before any test kills the master.
  const until = Date.now() + 20_000
  for (;;) {
    const info = await withNode(master.port, (admin) => admin.info('replication'))
    const known = await askSentinels('replicas')
    if (/slave0:.*state=online/.test(info) && Array.isArray(known) && known.length > 0) break
    if (Date.now() > until) throw new Error('the replica did not sync, or the sentinels did not find it, within 20 s')
    await sleep(100)
  }
  return {
    servers: [master, replica],
    sentinels,
    async masterPort() {
      const port = await ask()
      if (port === undefined) throw new Error('no sentinel answers')
      return port
    },
    async waitFailover(old, timeoutMs = 20_000) {
      const started = Date.now()
      for (;;) {
        const port = await ask()
        if (port !== undefined && port !== old) {
          const info = await withNode(port, (node) => node.info('replication')).catch(() => '')
          if (/role:master/.test(info)) return port
        }
        if (Date.now() - started > timeoutMs) throw new Error(`no failover within ${timeoutMs} ms`)
        await sleep(50)
      }
    },
    async stop() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await Promise.all([master.stop(), replica.stop()])
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
    },
  }
}
