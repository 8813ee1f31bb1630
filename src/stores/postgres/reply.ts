import { APPLIED } from './sql.js'

/** The decide function's answer, parsed. */
export interface DecideReply {
  readonly applied: (typeof APPLIED)[keyof typeof APPLIED]
  /** The database's clock_timestamp(), epoch ms. */
  readonly nowMs: number
  /** The stored states (null: absent) when not applied; null when applied. */
  readonly states: readonly (string | null)[] | null
  /** Their expiry, epoch ms, parallel to `states`. */
  readonly expires: readonly (number | null)[] | null
  /** The heap page the next sweep starts at (null: no sweep ran). */
  readonly sweptTo: number | null
}

const APPLIED_VALUES = new Set<number>(Object.values(APPLIED))

const isText = (v: unknown): v is string | null => v === null || typeof v === 'string'

/** Reads `rows` (pg's result of `SELECT * FROM <table>_decide(…)`); `undefined` when malformed. */
export function parseDecideReply(rows: unknown, checks: number): DecideReply | undefined {
  if (!Array.isArray(rows) || rows.length !== 1) return undefined
  const row = rows[0] as Record<string, unknown> | null
  if (typeof row !== 'object' || row === null) return undefined
  const applied = row.applied
  // bigint columns come back as text from pg (they may exceed 2^53); ours never do.
  const nowMs = Number(row.now_ms)
  if (typeof applied !== 'number' || !APPLIED_VALUES.has(applied) || !Number.isSafeInteger(nowMs)) return undefined
  const { states, expires } = row
  const sweptTo = row.swept_to === null ? null : Number(row.swept_to)
  if (sweptTo !== null && !Number.isSafeInteger(sweptTo)) return undefined
  if (applied === APPLIED.done) return { applied: APPLIED.done, nowMs, states: null, expires: null, sweptTo }
  if (!Array.isArray(states) || !Array.isArray(expires) || states.length !== checks || expires.length !== checks) return undefined
  if (!states.every(isText)) return undefined
  const expiresMs = expires.map((e) => (e === null ? null : Number(e)))
  // A debt's expiry may lie past 2^53 ms (a charge of 1e9 on a daily bucket): read it as the nearest double, as no precision matters there.
  if (!expiresMs.every((e) => e === null || Number.isFinite(e))) return undefined
  return { applied: applied as DecideReply['applied'], nowMs, states, expires: expiresMs, sweptTo }
}
