import { createHook } from 'node:async_hooks'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Limiter } from 'ratekeeper'

/**
 * Virtual time for the client: `sleep` registers a timer on a virtual clock; when the event loop
 * has nothing more urgent (setImmediate), the clock jumps to the earliest timer and fires it. No
 * test waits in real time, and `pending()` tells whether any timer was left behind.
 */
export function virtualTime(start: number) {
  let t = start
  interface Timer {
    at: number
    seq: number
    resolve: () => void
    signal: AbortSignal | undefined
    onAbort: (() => void) | undefined
  }
  let timers: Timer[] = []
  let seq = 0
  let scheduled = false
  let busy = 0
  const slept: number[] = []

  const fire = (): void => {
    scheduled = false
    // Work in flight (see `during`) holds the clock: an ideal network takes no time.
    if (timers.length === 0 || busy > 0) return
    timers.sort((a, b) => a.at - b.at || a.seq - b.seq)
    const first = timers[0]
    t = Math.max(t, first.at)
    const due = timers.filter((x) => x.at <= t)
    timers = timers.filter((x) => x.at > t)
    for (const x of due) {
      if (x.onAbort !== undefined) x.signal?.removeEventListener('abort', x.onAbort)
      x.resolve()
    }
    if (timers.length > 0) schedule()
  }
  const schedule = (): void => {
    if (scheduled) return
    scheduled = true
    setImmediate(fire)
  }

  return {
    now: (): number => t,
    advance: (ms: number): void => {
      t += ms
    },
    /** Runs `work` with the clock held still until it settles (a request on a zero-latency network). */
    during: async <T>(work: Promise<T>): Promise<T> => {
      busy++
      try {
        return await work
      } finally {
        busy--
        if (busy === 0 && timers.length > 0) schedule()
      }
    },
    /** Durations passed to sleep, in call order. */
    slept,
    pending: (): number => timers.length,
    sleep: (ms: number, signal?: AbortSignal): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        slept.push(ms)
        if (signal?.aborted) {
          reject(signal.reason)
          return
        }
        const timer: Timer = { at: t + ms, seq: seq++, resolve, signal, onAbort: undefined }
        if (signal !== undefined) {
          timer.onAbort = () => {
            timers = timers.filter((x) => x !== timer)
            reject(signal.reason)
          }
          signal.addEventListener('abort', timer.onAbort, { once: true })
        }
        timers.push(timer)
        schedule()
      }),
  }
}

/** A response the scripted server sends. */
export interface Planned {
  status: number
  headers?: Record<string, string>
  /** A string is sent as is; anything else as JSON. */
  body?: unknown
  /** Content-Type; defaults to application/json for non-string bodies. */
  type?: string
}

export interface Hit {
  path: string
  method: string
  body: string
  headers: IncomingMessage['headers']
  /** The test clock when the request arrived (when the server was given one). */
  at: number
}

/**
 * A hand-written HTTP server on 127.0.0.1 and an ephemeral port: each path answers from a script
 * (response n for the n-th hit; the last one repeats).
 */
export async function scriptedServer(now: () => number = Date.now) {
  const plans = new Map<string, Planned[] | ((hit: Hit, n: number) => Planned)>()
  const hits: Hit[] = []
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]
      const hit: Hit = { path, method: req.method ?? 'GET', body: Buffer.concat(chunks).toString('utf8'), headers: req.headers, at: now() }
      const n = hits.filter((h) => h.path === path).length
      hits.push(hit)
      const plan = plans.get(path)
      const r: Planned =
        plan === undefined
          ? { status: 404, body: 'no plan' }
          : typeof plan === 'function'
            ? plan(hit, n)
            : plan[Math.min(n, plan.length - 1)]
      const body = r.body === undefined ? '' : typeof r.body === 'string' ? r.body : JSON.stringify(r.body)
      const type = r.type ?? (r.body === undefined || typeof r.body === 'string' ? 'text/plain' : 'application/json')
      res.writeHead(r.status, { 'content-type': type, ...r.headers })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    plan(path: string, responses: Planned[] | ((hit: Hit, n: number) => Planned)): void {
      plans.set(path, responses)
    },
    hits: (path?: string): Hit[] => (path === undefined ? hits : hits.filter((h) => h.path === path)),
    close: (): Promise<void> =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A random source that replays `values` (then repeats the last). */
export function randomFrom(values: number[]): () => number {
  let i = 0
  return () => values[Math.min(i++, values.length - 1)]
}

/**
 * Watches the timers (`Timeout` resources) created from now on that are at least `minMs` long,
 * and tells how many are still pending. Counting only long timers leaves out the test runner's
 * own short-lived ones (its RPC timeouts come and go with its messages), so the count is exact:
 * the tests make the client wait hours, and any such timer still pending at the end is a leak.
 */
export function watchTimers(minMs: number) {
  const alive = new Set<number>()
  const hook = createHook({
    init(asyncId, type, _trigger, resource) {
      const delay = (resource as { _idleTimeout?: unknown })._idleTimeout
      if (type === 'Timeout' && typeof delay === 'number' && delay >= minMs) alive.add(asyncId)
    },
    destroy(asyncId) {
      alive.delete(asyncId)
    },
  })
  hook.enable()
  let created = 0
  const seen = createHook({
    init(_id, type, _trigger, resource) {
      const delay = (resource as { _idleTimeout?: unknown })._idleTimeout
      if (type === 'Timeout' && typeof delay === 'number' && delay >= minMs) created++
    },
  })
  seen.enable()
  return {
    /** Long timers created so far (to prove the test did create some). */
    created: (): number => created,
    /** Long timers created and not yet fired or cleared. */
    pending: (): number => alive.size,
    stop: (): void => {
      hook.disable()
      seen.disable()
    },
  }
}

/** The limiter, its first consume answered only when the test says so (a store round trip in flight). */
export function slowFirstAnswer(limiter: Limiter) {
  let held: (() => void) | undefined
  let first = true
  const slow = {
    consume: async (key: string, options?: Parameters<Limiter['consume']>[1]) => {
      if (first) {
        first = false
        await new Promise<void>((resolve) => {
          held = resolve
        })
      }
      return limiter.consume(key, options)
    },
    wait: limiter.wait.bind(limiter),
    refund: limiter.refund.bind(limiter),
    release: limiter.release.bind(limiter),
  } as unknown as Limiter
  const asked = async (): Promise<void> => {
    while (held === undefined) await new Promise((resolve) => setImmediate(resolve))
  }
  return { slow, asked, answer: () => held?.() }
}
