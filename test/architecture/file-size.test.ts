// Small rooms: no file in src/ or adapters/ grows past MAX_LINES. A file may stay longer only when
// it is one cohesive thing that splitting would scatter; each such file is listed below with why.
import { describe, expect, it } from 'vitest'
import { readImportGraph } from '../../scripts/import-graph.js'

const MAX_LINES = 350

/** Files allowed past MAX_LINES, each with the reason. Keep it short. */
const ALLOWED: ReadonlyMap<string, string> = new Map([
  // The Lua twin of every policy: one script text, commented line by line, loaded as one unit.
  ['src/stores/redis/script.ts', 'the Lua script, one text'],
  // The memory store's bookkeeping of one set of entries: the LRU segment, the limited segment and
  // moving entries between them when making room. Every method keeps the same invariants (who is
  // protected, what may be evicted); split, they would have to share private state.
  ['src/stores/memory/entries.ts', 'one set of entries and its invariants'],
  // RedisStore itself: the flow of a store call (arguments → batch → reply or failure). Batching,
  // transport, health, protocol, clock and options are files of their own already.
  ['src/stores/redis/store.ts', 'the flow of one store call'],
])

const { files, lines } = readImportGraph()

describe(`file size (at most ${MAX_LINES} lines in src/ and adapters/)`, () => {
  it('no file is longer, except the allowed ones', () => {
    const long = files
      .filter((file) => (lines.get(file) ?? 0) > MAX_LINES && !ALLOWED.has(file))
      .map((file) => `${file}: ${lines.get(file)} lines`)
    expect(long, `files over ${MAX_LINES} lines: split them, or add them to ALLOWED with a reason`).toEqual([])
  })

  it('every allowed file still exists', () => {
    const gone = [...ALLOWED.keys()].filter((file) => !files.includes(file))
    expect(gone, 'ALLOWED names files that are gone: update the list').toEqual([])
  })
})
