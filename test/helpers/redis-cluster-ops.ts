import { Redis } from 'ioredis'
import type { Decision, Limiter } from '../../src/index.js'
import { keySlot } from '../../src/stores/redis/slots.js'
import { type ClusterNodeInfo, clusterNodes } from './redis-servers.js'

/** A short-lived admin connection to one cluster node (no cluster redirections). */
export async function withNode<T>(port: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    return await use(client)
  } finally {
    client.disconnect()
  }
}

/** The master serving `slot`, as the node on `port` sees it. */
export async function masterOfSlot(port: number, slot: number): Promise<ClusterNodeInfo> {
  const nodes = await clusterNodes(port)
  const master = nodes.find((n) => n.flags.includes('master') && n.slots.some(([from, to]) => slot >= from && slot <= to))
  if (master === undefined) throw new Error(`no master serves slot ${slot}`)
  return master
}

/** Starts moving `slot` from `source` to `target` (IMPORTING on the target, MIGRATING on the source). */
export async function beginSlotMigration(slot: number, source: ClusterNodeInfo, target: ClusterNodeInfo): Promise<void> {
  await withNode(target.port, (c) => c.cluster('SETSLOT', slot, 'IMPORTING', source.id))
  await withNode(source.port, (c) => c.cluster('SETSLOT', slot, 'MIGRATING', target.id))
}

/** Moves `keys` (of a migrating slot) from `source` to `target`. */
export async function migrateKeys(source: ClusterNodeInfo, target: ClusterNodeInfo, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return
  await withNode(source.port, (c) => c.call('MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'REPLACE', 'KEYS', ...keys))
}

/** Moves the slot's remaining keys and gives the slot to `target` on every master. */
export async function finishSlotMigration(
  slot: number,
  source: ClusterNodeInfo,
  target: ClusterNodeInfo,
  masters: readonly ClusterNodeInfo[],
): Promise<void> {
  for (;;) {
    const keys = (await withNode(source.port, (c) => c.cluster('GETKEYSINSLOT', slot, 100))) as string[]
    if (keys.length === 0) break
    await migrateKeys(source, target, keys)
  }
  await withNode(target.port, (c) => c.cluster('SETSLOT', slot, 'NODE', target.id))
  await withNode(source.port, (c) => c.cluster('SETSLOT', slot, 'NODE', target.id))
  for (const m of masters)
    if (m.id !== source.id && m.id !== target.id) await withNode(m.port, (c) => c.cluster('SETSLOT', slot, 'NODE', target.id))
}

/** Keys of `slot` on the node on `port` that match a glob. */
export async function keysInSlot(port: number, slot: number, match: (key: string) => boolean): Promise<string[]> {
  const keys = (await withNode(port, (c) => c.cluster('GETKEYSINSLOT', slot, 10_000))) as string[]
  return keys.filter(match)
}

/**
 * Ten users of one team decided on a Cluster while the team's slot is half-migrated: each user's
 * one-key requests (one fixed window of `limit`, tagged by the team), with users u0–u4's keys moved
 * to the importing node and u5–u9's left on the migrating one, `rounds` times ten at once. Returns
 * what failed (the store's cause, else the reason) and, after the migration, how many charges each
 * user holds (each should hold 1 + `rounds`).
 */
export async function decideDuringMigration(
  port: number,
  limiter: Limiter,
  { limit, rounds }: { limit: number; rounds: number },
): Promise<{ failed: string[]; charges: number[] }> {
  const tag = `team-${Date.now()}`
  const slot = keySlot(`{${tag}}`)
  const users = Array.from({ length: 10 }, (_, i) => `u${i}`)
  const failed: string[] = []
  const note = (d: Decision) => {
    if (d.reason !== 'ok') failed.push(String(((d.error as Error | undefined)?.cause as Error | undefined)?.message ?? d.reason))
  }
  for (const u of users) note(await limiter.consume(u, { tag }))
  const masters = (await clusterNodes(port)).filter((n) => n.flags.includes('master'))
  const source = await masterOfSlot(port, slot)
  const target = masters.find((m) => m.id !== source.id)
  if (target === undefined) throw new Error('no other master')
  await beginSlotMigration(slot, source, target)
  try {
    await migrateKeys(source, target, await keysInSlot(source.port, slot, (key) => /:u[0-4]$/.test(key)))
    for (let r = 0; r < rounds; r++) for (const d of await Promise.all(users.map((u) => limiter.consume(u, { tag })))) note(d)
  } finally {
    await finishSlotMigration(slot, source, target, masters)
  }
  const after = await Promise.all(users.map((u) => limiter.peek(u, { tag })))
  return { failed, charges: after.map((d) => limit - d.remaining) }
}
