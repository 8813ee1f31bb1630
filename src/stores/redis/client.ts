/**
 * What the store needs of an ioredis client, and how it talks to one: the structural client
 * type, the script calls (past auto-pipelining where that is safe), the Cluster's slot table, the
 * shared connection listeners, and which errors mean an outage.
 */

import { DECIDE_SCRIPT, DECIDE_SHA } from './script.js'

/** Settles nothing: the handler of a promise whose outcome is reported elsewhere, or never matters. */
export function noop(): void {}

/**
 * What the store needs of a Redis client: the interface an ioredis or iovalkey client (`Redis` or
 * `Cluster`) has as it is, which the store wraps a node-redis client into, and which an adapter
 * for any other client implements (docs/redis.md, "Another client").
 *
 * - `evalsha` and `eval` take Redis's own arguments, `[sha1 or script, numKeys, ...keys, ...argv]`
 *   (numbers among them are sent as their decimal text), and resolve with the reply in RESP2
 *   shape (arrays, integers, strings, `null`). They send the command now, never queue it for
 *   later; `EVAL` also loads the script (no separate `SCRIPT LOAD` is needed).
 * - An error that Redis replied with has `name` `'ReplyError'` (as ioredis's) and Redis's text as
 *   its message (`NOSCRIPT …`, `CLUSTERDOWN …`); any other rejection means the connection failed.
 * - `status` is `'ready'` while commands can go; `'wait'`, `'connecting'` or `'connect'` while the
 *   first connection is being made (calls wait for it, within their deadline); anything else
 *   (`'reconnecting'`, `'end'`…) makes calls fail at once.
 * - `on('error')` hears each failed connection, `on('ready')` each new connection.
 * - On a cluster: `isCluster: true`; the call goes to the master of its first key's slot, and
 *   `masterOf(slot)` (`host:port`) lets the store tell one node's failure from another's.
 */
export interface RedisClient {
  /** Connection status (ioredis's values). The store sends commands only when it is `'ready'`. */
  readonly status: string
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  on(event: 'error' | 'ready' | 'node error', listener: (...args: unknown[]) => void): unknown
  /** Called by the store when `status` is `'wait'` (a client that connects on demand). */
  connect?(): Promise<void>
  /** A Redis Cluster client. */
  readonly isCluster?: boolean
  /** On a cluster: the master serving `slot`, as `host:port` ('' when unknown). */
  masterOf?(slot: number): string
  /** On a cluster: every master serving a slot now, as `host:port`. */
  masters?(): Set<string>
}

/** `evalsha` or `eval`, called with the client as `this`. */
export type ScriptCall = (...args: unknown[]) => Promise<unknown>

/** What `replicas` needs of an ioredis client: a pipeline (the script call and its `WAIT` in one round trip). */
export interface PipelineClient {
  pipeline(commands: unknown[][]): { exec(): Promise<[Error | null, unknown][] | null> }
  /** On a Cluster: the pipelines of the master at `host:port` (an `ASK` target), if known and safe to use. */
  atNode?(address: string): PipelineClient | undefined
}

/** The client is a Redis Cluster. */
export function isCluster(client: RedisClient): boolean {
  return client.isCluster === true
}

/** A Cluster's slot table as ioredis keeps it: per slot, its master's `host:port` first. */
function slotTable(client: RedisClient): readonly (readonly string[] | undefined)[] | undefined {
  return (client as { slots?: readonly (readonly string[] | undefined)[] }).slots
}

/** The master that serves `slot` (`host:port`), or '' when unknown or on a single node (`slot` -1). */
export function masterOf(client: RedisClient, slot: number): string {
  if (slot < 0) return ''
  if (client.masterOf !== undefined) return client.masterOf(slot)
  return slotTable(client)?.[slot]?.[0] ?? ''
}

/** The masters that serve a slot now, or `undefined` when the client keeps no slot table. */
export function mastersOf(client: RedisClient): Set<string> | undefined {
  if (client.masters !== undefined) return client.masters()
  const slots = slotTable(client)
  if (slots === undefined) return undefined
  const masters = new Set<string>()
  for (const nodes of slots) if (nodes?.[0] !== undefined) masters.add(nodes[0])
  return masters
}

// ---- script calls past auto-pipelining ----

/** What {@link directCalls} needs of an ioredis client besides the store's interface. */
interface CommandSender {
  readonly options?: { readonly enableAutoPipelining?: unknown; readonly keyPrefix?: unknown; readonly showFriendlyErrorStack?: unknown }
  sendCommand?: (command: unknown) => unknown
}
type CommandClass = new (
  name: string,
  args: unknown[],
  options: { keyPrefix?: string; replyEncoding: 'utf8'; errorStack?: Error },
) => IoredisCommand
/** What the store touches of an ioredis `Command`: its arguments, their conversion to text, its promise. */
interface IoredisCommand {
  args: unknown[]
  stringifyArguments?: () => void
  readonly promise: Promise<unknown>
}
/** A command made without arguments: they are set afterwards (see {@link directCalls}). */
const NO_ARGUMENTS: unknown[] = []
interface IoredisModule {
  readonly Redis: abstract new (...args: never[]) => unknown
  readonly Command: CommandClass
}

/** An ioredis-family package's classes, if it loads and has them. */
function classesOf(loaded: unknown): IoredisModule | undefined {
  const m = ((loaded as { default?: unknown }).default ?? loaded) as Partial<IoredisModule>
  return typeof m.Redis === 'function' && typeof m.Command === 'function' ? (m as IoredisModule) : undefined
}

/** Loaders of the `ioredis` and `iovalkey` packages (iovalkey is ioredis's fork, with the same classes), each run once. */
const clientModules = [() => import('ioredis'), () => import('iovalkey')].map((load) => {
  let loaded: Promise<IoredisModule | undefined> | undefined
  return () => {
    loaded ??= load().then(classesOf, () => undefined)
    return loaded
  }
})

/** The package of those whose `Redis` class made `client`, loaded in turn until one did (an ioredis client never loads iovalkey). */
async function familyOf(client: RedisClient): Promise<IoredisModule | undefined> {
  for (const load of clientModules) {
    const m = await load()
    if (m !== undefined && client instanceof m.Redis) return m
  }
  return undefined
}

/**
 * `evalsha` and `eval` made as the client's own methods make them, or `undefined` to keep those.
 * With `enableAutoPipelining`, ioredis holds each command until the next tick and wraps it in a
 * pipeline of its own; the store's script calls are batches already, so for them that is only
 * cost (about a tenth of a Fastify server's CPU per request on Redis, measured). And every
 * command's constructor copies its arguments with `Array.prototype.flat` (see below). For a
 * single-node client made by the `ioredis` or `iovalkey` package this module resolves (an
 * `instanceof` check, so never another copy or major version's classes), the store builds the command as the
 * client's method would (same key prefix, reply encoding and error stacks) and hands it to
 * `sendCommand`, which is what ioredis itself does when auto-pipelining is off.
 */
export async function directCalls(client: RedisClient): Promise<{ evalsha: ScriptCall; eval: ScriptCall } | undefined> {
  const sender = client as unknown as CommandSender
  const options = sender.options
  if (options === undefined || typeof sender.sendCommand !== 'function') return undefined
  const family = await familyOf(client)
  if (family === undefined) return undefined
  // A client whose script methods are not the library's own keeps them: replaced on the instance, in
  // a subclass, or on Redis.prototype (a wrapper, a tracer, a test's spy), they are what it runs.
  const own = Object.getPrototypeOf(family.Redis.prototype) as object
  if (definerOf(client, 'evalsha') !== definerOf(own, 'evalsha') || definerOf(client, 'eval') !== definerOf(own, 'eval')) return undefined
  const { Command } = family
  // Given to the command as the client's methods give it: a string, or a Buffer (which ioredis takes too).
  const keyPrefix = options.keyPrefix === null ? undefined : (options.keyPrefix as string | undefined)
  const friendly = options.showFriendlyErrorStack === true
  // A command's constructor copies its arguments with `Array.prototype.flat`, about 55 ns each (a
  // batch's script call has two to five per request); the store's are flat already. Without a key
  // prefix (which the constructor writes into the keys), the command is made without them, and
  // they are set and converted to text as the constructor would have: where this ioredis has the
  // same fields (`args`, `stringifyArguments`).
  const probe = new Command('evalsha', [], { replyEncoding: 'utf8' })
  const setsArguments = !keyPrefix && Array.isArray(probe.args) && typeof probe.stringifyArguments === 'function'
  probe.promise.catch(noop)
  const call =
    (name: 'evalsha' | 'eval'): ScriptCall =>
    (...args: unknown[]): Promise<unknown> => {
      const command = new Command(name, setsArguments ? NO_ARGUMENTS : args, {
        keyPrefix,
        replyEncoding: 'utf8',
        errorStack: friendly ? new Error() : undefined,
      })
      if (setsArguments) {
        command.args = args
        command.stringifyArguments?.()
      }
      sender.sendCommand?.(command)
      return command.promise
    }
  return { evalsha: call('evalsha'), eval: call('eval') }
}

/** The object on `o`'s prototype chain that defines `name` (`undefined`: none does). */
function definerOf(o: object, name: string): object | undefined {
  for (let p: object | null = o; p !== null; p = Object.getPrototypeOf(p)) if (Object.hasOwn(p, name)) return p
  return undefined
}

// ---- connection events ----

/** What a store wants to hear from its client. */
export interface ClientListener {
  /** A connection failed: the client's own (single node), or one node's (`address`, Cluster). */
  error(error: unknown, address?: string): void
  ready(): void
  /** The connection closed (ioredis, iovalkey): the script calls written to it and unanswered are lost. */
  lost(): void
}

/**
 * One 'error' and one 'ready' listener per client, shared by every store on it (many stores on
 * one client must not pile up listeners).
 */
const watched = new WeakMap<RedisClient, Set<ClientListener>>()

export function watch(client: RedisClient, listener: ClientListener): void {
  let set = watched.get(client)
  if (set === undefined) {
    const listeners = new Set<ClientListener>()
    set = listeners
    watched.set(client, listeners)
    client.on('error', (...args: unknown[]) => {
      for (const l of listeners) l.error(args[0])
    })
    // A Cluster reports each node's connection errors apart, and stays 'ready' meanwhile.
    if (isCluster(client)) {
      client.on('node error', (...args: unknown[]) => {
        for (const l of listeners) l.error(args[0], typeof args[1] === 'string' ? args[1] : '')
      })
    }
    client.on('ready', () => {
      for (const l of listeners) l.ready()
    })
    if (resends(client)) {
      ;(client as unknown as { on(event: 'close', listener: () => void): unknown }).on('close', () => {
        refuseResent(client)
        for (const l of listeners) l.lost()
      })
    }
  }
  set.add(listener)
}

/** A single-node ioredis or iovalkey client, which resends, once reconnected, what a closed connection left unanswered. */
function resends(client: RedisClient): boolean {
  const options = (client as { options?: { autoResendUnfulfilledCommands?: unknown } }).options
  return !isCluster(client) && typeof options?.autoResendUnfulfilledCommands === 'boolean'
}

/**
 * The script calls a closed connection left unanswered, which ioredis resends once reconnected
 * (`prevCommandQueue`, set before it emits 'close'): Redis may have run them already (the reply was
 * lost, not the command), so each is given a deadline long past, and its copy touches nothing.
 */
function refuseResent(client: RedisClient): void {
  const queue = (client as { prevCommandQueue?: { toArray?: () => unknown[] } | null }).prevCommandQueue
  if (typeof queue?.toArray !== 'function') return
  for (const item of queue.toArray()) {
    const command = (item as { command?: { name?: unknown; args?: unknown } } | undefined)?.command
    const args = command?.args
    if ((command?.name !== 'evalsha' && command?.name !== 'eval') || !Array.isArray(args)) continue
    const script = String(args[0])
    // [sha or script, numKeys, keys…, deadline (Redis ms), …]: 0 has passed.
    if (script === DECIDE_SHA || script === DECIDE_SCRIPT) args[2 + Number(args[1])] = '0'
  }
}

export function unwatch(client: RedisClient, listener: ClientListener): void {
  // The shared listeners stay (an 'error' listener with nobody behind it only keeps ioredis quiet).
  watched.get(client)?.delete(listener)
}

// ---- errors ----

/**
 * An error Redis replied with (the server ran the command and refused it): named `ReplyError`
 * (ioredis, iovalkey, adapters), or of node-redis's `ErrorReply` classes (which keep the name `Error`).
 */
export function isReplyError(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (error.name === 'ReplyError') return true
  for (let proto = Object.getPrototypeOf(error); proto !== null && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
    if ((proto as { constructor?: { name?: unknown } }).constructor?.name === 'ErrorReply') return true
  }
  return false
}

/**
 * An error that means Redis (or a node of it) is unavailable, rather than a problem of one call:
 * any client-side failure (connection closed, all cluster nodes failed) except ioredis giving up
 * on a slot in migration, and the replies of a server that can't serve (`CLUSTERDOWN`, …).
 */
export function isOutage(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error)
  if (!isReplyError(error)) return !/TRYAGAIN|ASK /.test(message)
  return isOutageReply(message)
}

/** Redis's reply (its text) says the server can't serve: as a whole call's error, or a request's inside the script. */
export function isOutageReply(text: string): boolean {
  return /^(CLUSTERDOWN|MASTERDOWN|LOADING|READONLY)/.test(text)
}

/** What the error event's argument says, briefly: its `code`, else the start of its message. */
export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') {
    return (error as { code: string }).code
  }
  return error instanceof Error ? error.message.slice(0, 80) : 'error'
}
