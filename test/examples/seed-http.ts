/**
 * Real HTTP to a seed example: a server on 127.0.0.1 and a client that can also speak from
 * another loopback address (127.0.0.2, …), so "per IP" is tested with real sockets.
 */
import { Agent, createServer, type RequestListener, request } from 'node:http'
import type { AddressInfo } from 'node:net'
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
