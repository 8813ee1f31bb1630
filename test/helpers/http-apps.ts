// Small builders shared by the HTTP regression tests: both majors of every framework, a fresh
// limit on an injected clock, and in-process requests (no sockets).
import Router from '@koa/router'
import express5 from 'express'
import express4 from 'express4'
import fastify5, { type FastifyInstance } from 'fastify'
import fastify4 from 'fastify4'
import koa3 from 'koa'
import koa2 from 'koa2'
import { inject } from 'light-my-request'
import { tokenBucket } from '../../src/index.js'
import { clock } from './clock.js'

export const T0 = 1_700_000_000_000

export const EXPRESS = [
  ['express5', express5],
  ['express4', express4],
] as const
export const KOA = [
  ['koa3', koa3],
  ['koa2', koa2],
] as const
export const FASTIFY = [
  ['fastify5', (opts: object = {}) => fastify5(opts) as unknown as FastifyInstance],
  ['fastify4', (opts: object = {}) => fastify4(opts) as unknown as FastifyInstance],
] as const

export { Router }

/** Options of a limit of `limit` requests per minute on a frozen clock. */
export function perMinute(limit: number, name = 'per-minute') {
  return { policies: [tokenBucket({ name, limit, window: '1m' })], now: clock(T0).now }
}

export interface Sent {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

type Listener = Parameters<typeof inject>[0]

/** One in-process request to a Node listener (Express app, Koa `app.callback()`). */
export async function send(listener: unknown, method: string, url: string, headers: Record<string, string> = {}): Promise<Sent> {
  const res = await inject(listener as Listener, { method: method as 'GET', url, headers, remoteAddress: '192.0.2.1' })
  return { status: res.statusCode, headers: res.headers, body: res.payload }
}

/** The same against a Fastify instance. */
export async function sendFastify(app: FastifyInstance, method: string, url: string, headers: Record<string, string> = {}): Promise<Sent> {
  const res = await app.inject({ method: method as 'GET', url, headers, remoteAddress: '192.0.2.1' })
  return { status: res.statusCode, headers: res.headers, body: res.payload }
}

/** Methods every framework here routes (CONNECT, TRACE and HEAD left out: Fetch forbids the first two, HEAD is GET). */
export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PURGE', 'SEARCH', 'PROPFIND', 'LOCK', 'COPY', 'MOVE']
