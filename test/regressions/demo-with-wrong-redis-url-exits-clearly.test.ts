// `REDIS_URL=<wrong> npm start` printed "connect ECONNREFUSED" forever and never listened. Asked
// for Redis and unable to reach it, the demo now stops within seconds with exit code 1 and one
// message naming REDIS_URL (its password masked), rather than falling back to memory behind the
// user's back (several demo processes on memory would each count on their own).

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { startDemo } from '../../examples/demo.js'
import { freePort, type RedisServer, redisServerFor, startRedisServer } from '../helpers/redis-servers.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const withRedisServer = redisServerFor('the demo against a Redis that never answers or restarts')

/** Runs `npm start`'s command with `env`; resolves with the exit code and output, or fails after `guardMs`. */
function runDemo(env: Record<string, string>, guardMs = 15_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--port', '0'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: '', PORT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the demo was still running after ${guardMs} ms; output:\n${output}`))
    }, guardMs)
    child.once('exit', (code) => {
      clearTimeout(guard)
      resolve({ code, output })
    })
  })
}

let server: RedisServer | undefined
afterEach(async () => {
  server?.resume()
  await server?.stop()
  server = undefined
})

describe('the demo with a REDIS_URL it cannot use', () => {
  it('a closed port: exit code 1 and one clear message naming REDIS_URL, its password masked', async () => {
    const port = await freePort()
    const { code, output } = await runDemo({ REDIS_URL: `redis://demo:s3cret%2Fpw@127.0.0.1:${port}/0` })
    expect(code).toBe(1)
    expect(output).toContain(`demo: cannot use Redis at REDIS_URL=redis://demo:***@127.0.0.1:${port}/0`)
    expect(output).toContain(`connect ECONNREFUSED 127.0.0.1:${port}`)
    expect(output).toContain('unset REDIS_URL to run on the in-memory store')
    expect(output).not.toContain('s3cret')
    expect(output).not.toContain('listening')
    // One message, not a line per reconnection attempt.
    expect(output.match(/ECONNREFUSED/g)).toHaveLength(1)
  })

  it('not a redis:// URL: exit code 2, the value not echoed', async () => {
    const { code, output } = await runDemo({ REDIS_URL: 'localhost:6379?password=hunter2' })
    expect(code).toBe(2)
    expect(output).toContain('demo: REDIS_URL must be a redis:// or rediss:// URL')
    expect(output).not.toContain('hunter2')
  })

  it.runIf(withRedisServer)('a Redis that accepts the connection but never answers: gives up within its deadline', async () => {
    server = await startRedisServer()
    server.pause()
    const lines: string[] = []
    const started = startDemo({ port: 0, redisUrl: server.url, log: (line) => lines.push(line), redisStartTimeoutMs: 1000 })
    await expect(started).rejects.toThrow(`cannot use Redis at REDIS_URL=${server.url}: no answer within 1000 ms`)
  })

  it.runIf(withRedisServer)('once started, a Redis restart is survived: the client reconnects', async () => {
    server = await startRedisServer()
    const prefix = `rk-test-demo-restart-${process.pid}`
    const running = await startDemo({ port: 0, redisUrl: server.url, redisPrefix: prefix, log: () => {} })
    const admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    admin.on('error', () => {})
    try {
      const call = () => fetch(`${running.url}/v1/listings`, { headers: { authorization: 'Bearer pk_test_demo' } })
      expect((await call()).status).toBe(200)
      await server.restart()
      // The restarted Redis is empty (the failing calls meanwhile went to the fallback store):
      // the demo's keys reappear in it once the client has reconnected.
      await admin.connect()
      let keys: string[] = []
      for (let i = 0; i < 100 && keys.length === 0; i++) {
        expect((await call()).status).toBe(200)
        keys = await admin.keys(`${prefix}*`)
        if (keys.length === 0) await new Promise((r) => setTimeout(r, 100))
      }
      expect(keys.length).toBeGreaterThan(0)
    } finally {
      admin.disconnect()
      await running.close()
    }
  })
})
