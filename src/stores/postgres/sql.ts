/**
 * The SQL of the PostgreSQL store: one table of states and one PL/pgSQL function that applies a
 * decision worked out in Node if, and only if, the states it was worked out from are still the
 * stored ones (a multi-key compare-and-set, in one statement, so one round trip).
 */

/** A NUL (PostgreSQL text holds none) or a lone surrogate (which reaches the database as U+FFFD). */
const NOT_STORABLE = /[\0\p{Cs}]/u

/**
 * The row key of `key` (policy id, newline, subject). A key PostgreSQL text can't hold as it is
 * becomes U+0001 and its JSON text, which has neither; no other row key starts with U+0001 (a
 * policy id starts with a letter or digit), and JSON text is one string's alone.
 */
export function storedKey(key: string): string {
  return NOT_STORABLE.test(key) ? `\u0001${JSON.stringify(key)}` : key
}

/** The error the decide function raises to undo writes made past the call's deadline. */
export const LATE_SQLSTATE = 'RK001'

/** What `decide` answers in `applied`. */
export const APPLIED = { conflict: 0, done: 1, clock: 2, late: 3 } as const

/** `schema.table` or `table`, each part quoted. */
export function quoteName(parts: readonly string[]): string {
  return parts.map((p) => `"${p}"`).join('.')
}

/** The names the SQL uses, from the `table` option (already validated: `[schema.]table`). */
export function sqlNames(table: string): { table: string; decide: string; lockSeed: string } {
  const parts = table.split('.')
  const last = parts.length - 1
  const withSuffix = (suffix: string) => quoteName(parts.map((p, i) => (i === last ? `${p}${suffix}` : p)))
  return { table: quoteName(parts), decide: withSuffix('_decide'), lockSeed: table }
}

/**
 * The schema: `createSchema()` runs it; docs/stores.md prints it for migration tools. Idempotent.
 *
 * - `k`: policy id, newline, subject (the limiter's encoded key; one with a NUL or a lone
 *   surrogate, which text can't hold, as U+0001 and its JSON text). `COLLATE "C"`: byte order.
 * - `expires_at`: epoch ms after which the state equals a fresh one: read as absent, and deleted
 *   by the sweep. Not indexed, so that updates stay HOT (no index entry per decision).
 */
export function schemaSql(table: string): string {
  const n = sqlNames(table)
  return `CREATE TABLE IF NOT EXISTS ${n.table} (
  k text COLLATE "C" PRIMARY KEY,
  state text NOT NULL,
  expires_at bigint NOT NULL
) WITH (fillfactor = 80);

CREATE OR REPLACE FUNCTION ${n.decide}(
  p_keys text[], p_expected text[], p_write boolean[], p_states text[], p_ttls bigint[],
  p_at bigint, p_caller boolean, p_deadline bigint, p_lock_ms integer, p_sweep_from bigint, p_sweep integer,
  OUT applied integer, OUT now_ms bigint, OUT states text[], OUT expires bigint[], OUT swept_to bigint
) LANGUAGE plpgsql AS $fn$
DECLARE
  h bigint;
BEGIN
  -- A lock held elsewhere is waited for until the call's deadline, never longer.
  PERFORM set_config('lock_timeout', p_lock_ms || 'ms', true);
  -- One transaction-scoped lock per key, in one global order: no deadlock, absent keys included.
  FOR h IN SELECT DISTINCT hashtextextended('${n.lockSeed}' || key, 0) FROM unnest(p_keys) AS key ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(h);
  END LOOP;
  now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000);
  -- The stored states as of the decision's time (an expired one reads as absent).
  SELECT coalesce(array_agg(CASE WHEN r.expires_at > p_at THEN r.state END ORDER BY i.n), '{}'),
         coalesce(array_agg(CASE WHEN r.expires_at > p_at THEN r.expires_at END ORDER BY i.n), '{}')
    INTO states, expires
    FROM unnest(p_keys) WITH ORDINALITY AS i(k, n) LEFT JOIN ${n.table} r ON r.k = i.k;
  -- Decided on a clock ahead of the database's (p_at < 0: the caller does not know it yet).
  IF NOT p_caller AND (p_at < 0 OR p_at > now_ms) THEN applied := ${APPLIED.clock}; RETURN; END IF;
  -- Past the caller's deadline: it has given up, so nothing is written.
  IF p_deadline > 0 AND now_ms > p_deadline THEN applied := ${APPLIED.late}; RETURN; END IF;
  -- Decided on states that changed meanwhile: answer the current ones, write nothing.
  IF states IS DISTINCT FROM p_expected THEN applied := ${APPLIED.conflict}; RETURN; END IF;
  DELETE FROM ${n.table} WHERE k = ANY (
    ARRAY(SELECT w.k FROM unnest(p_keys, p_write, p_states) AS w(k, wr, s) WHERE w.wr AND w.s IS NULL));
  INSERT INTO ${n.table} AS t (k, state, expires_at)
    SELECT w.k, w.s, p_at + w.ttl FROM unnest(p_keys, p_write, p_states, p_ttls) AS w(k, wr, s, ttl)
    WHERE w.wr AND w.s IS NOT NULL
    ON CONFLICT (k) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at;
  -- Past the deadline once written (a row lock held elsewhere was waited for): the caller has
  -- given up, so the writes are undone with the statement.
  IF p_deadline > 0 AND floor(extract(epoch FROM clock_timestamp()) * 1000) > p_deadline THEN
    RAISE EXCEPTION 'ratekeeper: past the call''s deadline' USING ERRCODE = '${LATE_SQLSTATE}';
  END IF;
  applied := ${APPLIED.done};
  states := NULL;
  expires := NULL;
  -- Cleanup, a bounded batch at a time: the p_sweep heap pages from page p_sweep_from on, their
  -- expired rows deleted (physical order: unrelated to how keys are named or when they came).
  -- SKIP LOCKED: the sweep never waits, so it cannot deadlock with a decision.
  IF p_sweep > 0 THEN
    DELETE FROM ${n.table} WHERE ctid = ANY (ARRAY(
      SELECT d.ctid FROM ${n.table} d
      WHERE d.ctid >= format('(%s,0)', p_sweep_from)::tid AND d.ctid < format('(%s,0)', p_sweep_from + p_sweep)::tid
        AND d.expires_at <= p_at
      FOR UPDATE SKIP LOCKED));
    swept_to := p_sweep_from + p_sweep;
    -- Past the last page: start over.
    IF swept_to * current_setting('block_size')::bigint >= pg_relation_size('${n.table.replace(/'/g, "''")}') THEN swept_to := 0; END IF;
  END IF;
END
$fn$;
`
}
