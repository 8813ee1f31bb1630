// Concurrency limits across processes: several Node processes share one Redis and run hundreds of
// slow operations each (acquire, hold a few ms, release) against one `concurrency({ limit: 10 })`.
// Each counts itself in flight on a shared Redis counter while it holds its lease: the count never
// passes the limit and is back at 0 at the end. Then a process is killed (SIGKILL) while holding
// leases: its leases expire within `leaseMs` (every deadline in the set is at most `leaseMs`
// ahead of Redis's clock), and then every slot is free again.

import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, expect, it } from 'vitest'
import { concurrency, createLimiter } from '../../../src/index.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { deleteUnder, describeRedis, keysUnder, keysWithoutTtl, REDIS_URL, redisTimeMs, uniquePrefix } from '../../helpers/redis.js'

const run = promisify(execFile)
const worker = fileURLToPath(new URL('./fixtures/lease-worker.ts', import.meta.url))
const root = fileURLToPath(new URL('../..', import.meta.url))

const PROCESSES = 4
const LIMIT = 10
const LEASE_MS = 500
const WORKERS = 40

interface Seen {
  admitted: number
  denied: number
  errors: number
  maxSeen: number
  failures: Record<string, number>
}

function args(prefix: string, subject: string, index: number, ops: number, hold = false): string[] {
  return [
    '--import',
    'tsx',
    worker,
    REDIS_URL,
    prefix,
    subject,
    String(index),
    String(PROCESSES),
    String(ops),
    String(WORKERS),
    String(LIMIT),
    String(LEASE_MS),
    ...(hold ? ['hold'] : []),
  ]
}

const parse = (stdout: string): Seen => JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Seen

describeRedis('RedisStore concurrency limits across processes', () => {
  const prefix = uniquePrefix('cc-procs')
  /** Every child still running when a test fails is killed before the clean-up reads the keys. */
  const children: ChildProcess[] = []
  const admin = new Redis(REDIS_URL)
  const store = new RedisStore({ client: admin, prefix, timeoutMs: 5000 })
  const limiter = createLimiter({
    store,
    policies: [concurrency({ name: 'in-flight', limit: LIMIT, leaseMs: LEASE_MS })],
    onStoreError: 'deny',
  })

  afterAll(async () => {
    await Promise.all(
      children
        .filter((child) => child.exitCode === null && child.signalCode === null)
        .map((child) => new Promise((resolve) => child.once('exit', resolve).kill('SIGKILL'))),
    )
    // The test's own bookkeeping (counters, lease sets) first: the store's keys must all have a TTL.
    for (const key of [...(await keysUnder(admin, `${prefix}:inflight`)), ...(await keysUnder(admin, `${prefix}:leases`))])
      await admin.del(key)
    expect((await keysWithoutTtl(admin, prefix)).without).toEqual([])
    await deleteUnder(admin, prefix)
    store.close()
    admin.disconnect()
  })

  /** Redis's clock, ms. */
  const redisNow = () => redisTimeMs(admin)

  it(`never has more than ${LIMIT} in flight when ${PROCESSES} processes run ${PROCESSES * 300} slow operations`, async () => {
    const outputs = await Promise.all(
      Array.from({ length: PROCESSES }, (_, i) => run(process.execPath, args(prefix, 'calm', i, 300), { cwd: root, timeout: 60_000 })),
    )
    const seen = outputs.map(({ stdout }) => parse(stdout))
    const total = seen.reduce(
      (sum, s) => ({ admitted: sum.admitted + s.admitted, denied: sum.denied + s.denied, errors: sum.errors + s.errors }),
      {
        admitted: 0,
        denied: 0,
        errors: 0,
      },
    )
    expect(seen.map((s) => s.failures)).toEqual(seen.map(() => ({})))
    expect(total.errors).toBe(0)
    expect(Math.max(...seen.map((s) => s.maxSeen))).toBeLessThanOrEqual(LIMIT)
    // The limit was reached (the processes really competed: a denial means every slot was held)
    // and every one of them got slots. The in-flight count is sampled after each grant, so on a
    // loaded machine its peak may miss the moment all ten were held (seen: 9 in a full suite run).
    expect(total.denied).toBeGreaterThan(0)
    expect(seen.every((s) => s.admitted > 0)).toBe(true)
    expect(Number(await admin.get(`${prefix}:inflight`))).toBe(0)
    // Every lease was released: all slots free, and no set left behind.
    expect((await limiter.peek('calm')).remaining).toBe(LIMIT)
    expect(await keysUnder(admin, `${prefix}:{calm}`)).toEqual([])
  }, 60_000)

  it(`gives back the leases of a process killed mid-flight within leaseMs (${LEASE_MS} ms)`, async () => {
    const started = children.length
    let holding: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      holding = resolve
    })
    const outputs = Array.from({ length: PROCESSES }, (_, i) => {
      // The victim (0) keeps its first lease and says so: it is killed holding at least that one.
      const child = spawn(process.execPath, args(prefix, 'crash', i, 600, i === 0), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
      children.push(child)
      let stdout = ''
      let stderr = ''
      child.stdout?.on('data', (chunk) => {
        stdout += chunk
        if (i === 0 && stdout.includes('holding\n')) holding()
      })
      child.stderr?.on('data', (chunk) => {
        stderr += chunk
      })
      return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
      )
    })
    const victim = children[started]
    const own = `${prefix}:inflight:0`
    // Wait for it to hold a lease: however long the processes take to start on a loaded machine,
    // but not for ever, and saying why if it exits first.
    const early = await Promise.race([
      held.then(() => undefined),
      outputs[0].then((r) => `exited first (${r.code ?? r.signal}): ${r.stderr.slice(0, 500)}`),
      new Promise<string>((resolve) => setTimeout(resolve, 75_000, 'held no lease within 75 s')),
    ])
    expect(early).toBeUndefined()
    expect(Number(await admin.get(own))).toBeGreaterThan(0)
    expect(victim.pid).toBeDefined()
    process.kill(victim.pid as number, 'SIGKILL')
    const killedAt = await redisNow()
    // Its count never comes down by itself: take it off the shared counter (before its leases
    // could expire), so that the others' counts stay exact.
    await new Promise((resolve) => setTimeout(resolve, 30))
    await admin.decrby(`${prefix}:inflight`, Number(await admin.get(own)))
    // The dead process's leases still held: none lives past leaseMs from its death.
    const [key] = await keysUnder(admin, `${prefix}:{crash}`)
    const asked = await admin.smembers(`${prefix}:leases:0`)
    const deadlines = (await admin.zmscore(key, ...asked)).filter((score) => score !== null).map(Number)
    expect(deadlines.length).toBeGreaterThan(0)
    for (const deadline of deadlines) expect(deadline).toBeLessThanOrEqual(killedAt + LEASE_MS)
    // Nor does any other lease, nor the key, live past leaseMs from now.
    const [scores, now, pttl] = await Promise.all([admin.zrange(key, -1, -1, 'WITHSCORES'), redisNow(), admin.pttl(key)])
    expect(Number(scores[1])).toBeLessThanOrEqual(now + LEASE_MS)
    expect(pttl).toBeLessThanOrEqual(LEASE_MS)

    const results = await Promise.all(outputs)
    expect(results[0].signal).toBe('SIGKILL')
    expect(results.slice(1).map((r) => [r.code, r.stderr])).toEqual(results.slice(1).map(() => [0, '']))
    const survivors = results.slice(1).map((r) => parse(r.stdout))
    expect(survivors.map((s) => s.failures)).toEqual(survivors.map(() => ({})))
    expect(survivors.reduce((sum, s) => sum + s.errors, 0)).toBe(0)
    expect(Math.max(...survivors.map((s) => s.maxSeen))).toBeLessThanOrEqual(LIMIT)
    expect(Number(await admin.get(`${prefix}:inflight`))).toBe(0)

    // Once the dead process's deadlines have passed (Redis time), every slot is free again.
    const latest = Math.max(...deadlines)
    for (let now = await redisNow(); now < latest; now = await redisNow()) await new Promise((resolve) => setTimeout(resolve, latest - now))
    const decisions = await Promise.all(Array.from({ length: LIMIT + 1 }, () => limiter.consume('crash')))
    expect(decisions.map((d) => d.allowed)).toEqual([...Array.from({ length: LIMIT }, () => true), false])
    await Promise.all(decisions.map((d) => limiter.release(d)))
  }, 150_000)
})
