/**
 * An ioredis or iovalkey Cluster's script calls, made so that a call whose node connection closed
 * is never run twice (see {@link clusterCalls}).
 */

import { isCluster, type PipelineClient, type RedisClient, type ScriptCall } from './client.js'

/** ioredis's error for a command whose connection closed, or never opened, before its reply came. */
const CONNECTION_CLOSED = 'Connection is closed.'

/** A Cluster command's settlement, before and after the Cluster wraps it to retry. */
interface ClusterCommand {
  reject?: (error: unknown) => void
}
type SendCommand = (command: unknown, stream?: unknown, node?: unknown) => unknown
/** How a Cluster decides what to do with a command's (or a pipeline's) error: `defaults` rejects it. */
type HandleError = (error: unknown, ttl: unknown, handlers: { defaults?: () => unknown } | undefined) => unknown

/**
 * `evalsha` and `eval` of an ioredis or iovalkey Cluster, its own methods, except that a script
 * call whose node connection closed before its reply came fails rather than being sent again. The
 * Cluster resends such a command after `retryDelayOnFailover`, but Redis may have run it (the reply
 * was lost, not the command): within its deadline, the copy charged every request of the batch
 * twice; `pipelines` makes the pipelines of `replicas` that fail so. `undefined` for another client,
 * or a Cluster with auto-pipelining (its pipelines are its own).
 */
export function clusterCalls(client: RedisClient): { evalsha: ScriptCall; eval: ScriptCall; pipelines: PipelineClient } | undefined {
  const cluster = client as unknown as {
    options?: { retryDelayOnFailover?: unknown; enableAutoPipelining?: unknown }
    sendCommand?: SendCommand
  }
  const send = cluster.sendCommand
  const options = cluster.options
  if (
    !isCluster(client) ||
    typeof send !== 'function' ||
    typeof options?.retryDelayOnFailover !== 'number' ||
    options.enableAutoPipelining === true
  ) {
    return undefined
  }
  // The client's methods run on a view of it whose sendCommand is the Cluster's own, then keeps
  // the Cluster's retries for everything but a closed connection (MOVED, ASK, TRYAGAIN: nothing ran).
  const view = Object.create(client) as { sendCommand: SendCommand }
  const refresh = (client as { refreshSlotsCache?: () => void }).refreshSlotsCache
  view.sendCommand = (command, stream, node) => {
    const c = command as ClusterCommand
    const settle = c.reject
    const sent = send.call(client, command, stream, node)
    const retry = c.reject
    if (typeof settle === 'function' && typeof retry === 'function' && retry !== settle) {
      c.reject = (error) => {
        if (!(error instanceof Error && error.message === CONNECTION_CLOSED)) return retry.call(command, error)
        // The slot table is reread as the Cluster's retry would have (its master may be gone).
        refresh?.call(client)
        settle.call(command, error)
      }
    }
    return sent
  }
  // A pipeline made on the view (a call with its WAIT, `replicas`) is failed, not sent again, too.
  const handle = (client as { handleError?: HandleError }).handleError
  if (typeof handle === 'function') {
    ;(view as unknown as { handleError: HandleError }).handleError = (error, ttl, handlers) => {
      // A pipeline's error is a plain { name, message }.
      if ((error as { message?: unknown } | undefined)?.message !== CONNECTION_CLOSED || typeof handlers?.defaults !== 'function') {
        return handle.call(client, error, ttl, handlers)
      }
      refresh?.call(client)
      return handlers.defaults()
    }
  }
  const evalsha = client.evalsha as ScriptCall
  const evalScript = client.eval as ScriptCall
  const pipelines = view as unknown as PipelineClient
  return {
    evalsha: (...args) => evalsha.apply(view, args),
    eval: (...args) => evalScript.apply(view, args),
    pipelines: {
      pipeline: (commands) => {
        const made = pipelines.pipeline(commands)
        return { exec: () => made.exec().then((results) => followMoved(results, client, refresh)) }
      },
      atNode: (address) => nodeAt(client, address),
    },
  }
}

/**
 * A pipeline's script call that got MOVED has the slot table reread. The Cluster follows a
 * pipeline's MOVED only when every command of it got the same error (or only reads): the `WAIT`
 * behind the script call succeeds on the node that answered MOVED, so the MOVED comes back as it
 * is, and nothing else makes the Cluster reread its table. A master killed between calls leaves
 * the table naming it: every later call goes to a random master and gets MOVED, for ever.
 */
function followMoved<T extends [Error | null, unknown][] | null>(results: T, client: RedisClient, refresh: (() => void) | undefined): T {
  const error = results?.[0]?.[0]
  if (error instanceof Error && error.message.startsWith('MOVED ')) refresh?.call(client)
  return results
}

/** A Cluster node as ioredis and iovalkey keep it: a client of its own. */
interface ClusterNode extends PipelineClient {
  options?: { host?: unknown; port?: unknown; retryStrategy?: unknown }
}

/**
 * The master at `address` (`host:port`, as an `ASK` names it), for a pipeline of its own; only
 * when its connection is never reopened by itself: a node client that reconnects would send the
 * pipeline's unanswered commands again, and Redis may have run them.
 */
function nodeAt(client: RedisClient, address: string): PipelineClient | undefined {
  const nodes = (client as { nodes?: (role: string) => ClusterNode[] }).nodes
  if (typeof nodes !== 'function') return undefined
  const node = nodes.call(client, 'master').find((n) => `${n.options?.host}:${n.options?.port}` === address)
  return node !== undefined && node.options?.retryStrategy == null && typeof node.pipeline === 'function' ? node : undefined
}
