// A deterministic discrete-event simulation of a fleet of servers sharing one global limit, run on
// the real limiter (with and without `lease`) against a simulated store: a MemoryStore whose every
// call answers after a network round trip in virtual time. Time advances in 1 ms ticks; each tick
// delivers the store's answers due, then the tick's arrivals (Poisson, spread over the servers
// with Zipf weights), then lets every continuation run (the event loop drained) before the next.
// Servers join, leave (closed: leases given back) and crash (dropped: leases lost) on a schedule.

import {
  createLimiter,
  type Limiter,
  MemoryStore,
  type Policy,
  type Store,
  type StoreRefundRequest,
  type StoreRequest,
  type StoreResult,
} from 'ratekeeper'
import { prng } from './stats.js'

export interface Scenario {
  readonly servers: number
  /** The policy every server enforces on one global key (with or without `lease`). */
  readonly policy: Policy
  /** Units the policy allows per `windowMs` (the fixed window's limit; a bucket's refill). */
  readonly limitPerWindow: number
  readonly windowMs: number
  /** Fleet-wide arrivals per second at time t (ms). */
  readonly demand: (t: number) => number
  readonly durationMs: number
  /** Zipf exponent of the servers' shares of the traffic. */
  readonly zipf: number
  /** Per second, the fraction of servers that leave gracefully, and that crash (each replaced by a new one). */
  readonly leavePerSecond: number
  readonly crashPerSecond: number
  /** Store round trip, ms (uniform in [min, max]). */
  readonly rttMs: readonly [number, number]
  readonly seed: number
}

export interface WindowStats {
  readonly start: number
  readonly demand: number
  readonly admitted: number
  readonly denied: number
  /** Units held by live servers (granted, not spent, not given back) when the window began. */
  readonly heldAtStart: number
}

export interface SimResult {
  readonly windows: WindowStats[]
  /** Per second of the run: arrivals and admissions. */
  readonly seconds: { demand: number; admitted: number }[]
  readonly decisions: number
  readonly storeOps: number
  /** Mean virtual ms from arrival to decision. */
  readonly meanWaitMs: number
  readonly crashes: number
  readonly leaves: number
}

/** A request's arrival: the server it reached. */
interface Server {
  limiter: Limiter
  /** Units the store granted this server, gave back, and that it admitted. */
  granted: number
  returned: number
  admitted: number
}

const T0 = Date.UTC(2026, 0, 1)

export async function simulate(s: Scenario): Promise<SimResult> {
  const random = prng(s.seed)
  // Round trips draw from a stream of their own: the traffic is the same with and without leases.
  const network = prng(s.seed ^ 0x5bd1e995)
  const memory = new MemoryStore({ maxKeys: 1_000 })
  let t = T0
  let storeOps = 0
  /** Answers due, by tick. */
  const due = new Map<number, (() => void)[]>()
  const later = (f: () => void) => {
    const [lo, hi] = s.rttMs
    const at = t + lo + Math.floor(network() * (hi - lo + 1))
    let list = due.get(at)
    if (list === undefined) due.set(at, (list = []))
    list.push(f)
  }
  // Each server's view of the store: the shared memory behind a round trip, its grants counted.
  const storeOf = (server: Server): Store => {
    const call = <R extends StoreRequest>(r: R, f: (r: R) => StoreResult, grant: number): Promise<StoreResult> => {
      storeOps++
      return new Promise((resolve) =>
        later(() => {
          const answer = f({ ...r, now: t })
          if (answer.allowed) {
            if (grant > 0) server.granted += grant
            else server.returned -= grant
          }
          resolve(answer)
        }),
      )
    }
    return {
      consume: (r) => call(r, (q) => memory.consume(q) as StoreResult, r.cost),
      peek: (r) => call(r, (q) => memory.peek(q) as StoreResult, 0),
      refund: (r: StoreRefundRequest) => call(r, (q) => memory.refund(q) as StoreResult, -r.cost),
      charge: (r) => call(r, (q) => memory.charge(q) as StoreResult, r.cost),
      reset: (r) => memory.reset(r),
      close: () => undefined,
      // It always answers (in virtual time): no real-time deadline from the limiter.
      timeoutMs: 3_600_000,
    }
  }
  const newServer = (): Server => {
    const server: Server = { limiter: undefined as unknown as Limiter, granted: 0, returned: 0, admitted: 0 }
    server.limiter = createLimiter({ store: storeOf(server), now: () => t, policies: [s.policy], onStoreError: 'deny' })
    return server
  }
  const servers = Array.from({ length: s.servers }, newServer)
  // Zipf shares, cumulative, for picking a server by binary search.
  const weights = servers.map((_, i) => 1 / (i + 1) ** s.zipf)
  const total = weights.reduce((a, b) => a + b, 0)
  const cumulative: number[] = []
  let sum = 0
  for (const w of weights) {
    sum += w
    cumulative.push(sum / total)
  }
  const pick = () => {
    const u = random()
    let lo = 0
    let hi = cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cumulative[mid] < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  const poisson = (mean: number) => {
    // Knuth for small means, a rounded normal for large ones: enough for arrivals per ms.
    if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gauss()))
    const limit = Math.exp(-mean)
    let k = 0
    let p = random()
    while (p > limit) {
      k++
      p *= random()
    }
    return k
  }
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())

  const windows: WindowStats[] = []
  const seconds: { demand: number; admitted: number }[] = []
  let current: { start: number; demand: number; admitted: number; denied: number; heldAtStart: number } | undefined
  let decisions = 0
  let waited = 0
  let crashes = 0
  let leaves = 0
  const closing: Promise<void>[] = []
  const held = () => servers.reduce((n, v) => n + v.granted - v.returned - v.admitted, 0)
  const drain = () => new Promise<void>((resolve) => setImmediate(resolve))

  for (; t < T0 + s.durationMs; t++) {
    const start = t - ((t - T0) % s.windowMs)
    if (current === undefined || current.start !== start) {
      if (current !== undefined) windows.push(current)
      current = { start, demand: 0, admitted: 0, denied: 0, heldAtStart: held() }
    }
    const answers = due.get(t)
    if (answers !== undefined) {
      due.delete(t)
      for (const f of answers) f()
    }
    // Churn, spread over the second: replaced servers keep their share of the traffic.
    if ((t - T0) % 100 === 0) {
      for (let i = 0; i < servers.length; i++) {
        const u = random() * 10
        if (u < s.crashPerSecond) {
          servers[i] = newServer()
          crashes++
        } else if (u < s.crashPerSecond + s.leavePerSecond) {
          const leaving = servers[i]
          servers[i] = newServer()
          leaves++
          closing.push(leaving.limiter.close())
        }
      }
    }
    const arrivals = poisson(s.demand(t - T0) / 1_000)
    const window = current
    const second = Math.floor((t - T0) / 1_000)
    seconds[second] ??= { demand: 0, admitted: 0 }
    seconds[second].demand += arrivals
    for (let i = 0; i < arrivals; i++) {
      const server = servers[pick()]
      const at = t
      window.demand++
      void server.limiter.consume('global').then((d) => {
        decisions++
        waited += t - at
        // Counted in the window the decision was made in (the unit was spent then).
        const w = current as WindowStats & { admitted: number; denied: number }
        if (d.allowed) {
          w.admitted++
          const now = Math.min(Math.floor((t - T0) / 1_000), seconds.length - 1)
          seconds[now].admitted++
          server.admitted++
        } else w.denied++
      })
    }
    await drain()
  }
  if (current !== undefined) windows.push(current)
  // The last answers, so that every decision is counted.
  for (const [, answers] of [...due].sort((a, b) => a[0] - b[0])) for (const f of answers) f()
  due.clear()
  await drain()
  await Promise.allSettled(closing)
  return { windows, seconds, decisions, storeOps, meanWaitMs: decisions === 0 ? 0 : waited / decisions, crashes, leaves }
}
