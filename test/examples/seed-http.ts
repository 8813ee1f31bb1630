/**
 * Real HTTP to a seed example: a server on 127.0.0.1 and a client that can also speak from
 * another loopback address (127.0.0.2, …), so "per IP" is tested with real sockets; and the
 * ratekeeper client the seed tests point at it, on a simulated clock.
 */
import { Agent, createServer, type RequestListener, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type ClientOptions, createClient, type RateLimitedFetch, type Sleep } from 'ratekeeper/client'
import type { Answer } from './serve.js'

export interface SendOptions {
  headers?: Record<string, string>
  body?: string
  /** The loopback address to send from. @default '127.0.0.1' */
  from?: string
}

export interface SeedServer {
  readonly base: string
  send(method: string, path: string, options?: SendOptions): Promise<Answer>
  close(): Promise<void>
}

/** A client for a server already listening at `base` (`http://127.0.0.1:port`). */
export function httpClient(base: string, closeServer: () => Promise<void> = async () => {}): SeedServer {
  const url = new URL(base)
  const agents = new Map<string, Agent>()
  const agentFrom = (from: string) => {
    let agent = agents.get(from)
    if (agent === undefined) agents.set(from, (agent = new Agent({ keepAlive: true, localAddress: from })))
    return agent
  }
  return {
    base,
    send(method, path, options = {}) {
      return new Promise<Answer>((resolve, reject) => {
        const headers: Record<string, string> = { ...options.headers }
        if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body))
        const req = request(
          { host: url.hostname, port: url.port, method, path, headers, agent: agentFrom(options.from ?? '127.0.0.1') },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (chunk: Buffer) => chunks.push(chunk))
            res.on('error', reject)
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8')
              const flat: Record<string, string> = {}
              for (const [name, value] of Object.entries(res.headers)) {
                if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value
              }
              resolve({ status: res.statusCode ?? 0, headers: flat, body: text, json: <T>() => JSON.parse(text) as T })
            })
          },
        )
        req.on('error', reject)
        req.end(options.body)
      })
    },
    async close() {
      for (const agent of agents.values()) agent.destroy()
      await closeServer()
    },
  }
}

/** Serves a Node request listener on 127.0.0.1 (a free port) and returns a client for it. */
export async function listen(listener: RequestListener): Promise<SeedServer> {
  const server = createServer(listener)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return httpClient(
    base,
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  )
}

/**
 * The simulated clock a seed test runs on: `clock()` from test/helpers (the client's sleep
 * advances it) or `virtualTime()` from test/client/helpers (timers fire in order, and `during`
 * holds the clock still while a request is on the wire).
 */
export interface SimulatedClock {
  now(): number
  advance(ms: number): void
  sleep?: Sleep
  during?<T>(work: Promise<T>): Promise<T>
}

export interface RecordingClient {
  /** The client, its relative URLs resolved against the server's base. */
  readonly api: RateLimitedFetch
  /** The status of every response the client received, in order, retries included. */
  readonly seen: number[]
}

/** Client options a test still chooses: everything but where, when and how the requests go. */
export type RecordingClientOptions = Omit<ClientOptions, 'baseUrl' | 'now' | 'sleep' | 'fetch'>

/** Retries on 429 with a fixed jitter draw and no pacing: the first request is sent and refused. */
export const RETRYING: RecordingClientOptions = { random: () => 0.5, pace: false }

/** Pacing on the headers, never a retry, and waits as long as a spent burst takes to come back. */
export const PACING: RecordingClientOptions = { retry: false, maxWaitMs: 120_000 }

/**
 * A ratekeeper client for `server` that reads `time`, sleeps on it (waits cost no real time) and
 * records the status of each response it receives.
 */
export function recordingClient(
  server: { readonly base: string },
  time: SimulatedClock,
  options: RecordingClientOptions = {},
): RecordingClient {
  const seen: number[] = []
  const during = time.during?.bind(time) ?? (<T>(work: Promise<T>) => work)
  const api = createClient({
    ...options,
    baseUrl: server.base,
    now: time.now,
    sleep: time.sleep ?? (async (ms) => time.advance(ms)),
    fetch: async (input, init) => {
      const res = await during(fetch(input, init))
      seen.push(res.status)
      return res
    },
  })
  return { api, seen }
}
