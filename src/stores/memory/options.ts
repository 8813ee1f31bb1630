import { ConfigurationError, checkInteger, checkKnownOptions, checkOptionsObject } from '../../limiter/errors.js'

/** Options of `MemoryStore`. */
export interface MemoryStoreOptions {
  /**
   * Most entries kept; one entry is one (subject, policy) pair. Bounds memory: about 110 bytes
   * per token-bucket entry (see docs/benchmarks.md). Entries of limited clients may fill the
   * store, but entries of clients that are not limited always have room for
   * `maxKeys - floor(maxKeys / 2)` of them (see docs/stores.md). Must be at least the number of
   * policies one request is decided against.
   * @default 100_000
   */
  maxKeys?: number
}

/** Every option of `MemoryStore`: its check and default. */
const MEMORY_STORE_OPTIONS: {
  readonly [K in keyof Required<MemoryStoreOptions>]: { check: (where: string, value: unknown) => number; default: number }
} = {
  maxKeys: { check: (where, value) => checkInteger(where, 'maxKeys', value, 1, 100_000_000), default: 100_000 },
}

/** Checks `MemoryStore` options and fills in the defaults. */
export function memoryStoreOptions(where: string, options: MemoryStoreOptions): Required<MemoryStoreOptions> {
  checkOptionsObject(where, options)
  checkKnownOptions(where, options, MEMORY_STORE_OPTIONS)
  const { maxKeys } = MEMORY_STORE_OPTIONS
  return { maxKeys: options.maxKeys === undefined ? maxKeys.default : maxKeys.check(where, options.maxKeys) }
}

/** One request needs an entry per policy (`n`): a store smaller than that would mix their states. */
export function checkFits(maxKeys: number, n: number): void {
  if (n > maxKeys) {
    throw new ConfigurationError(
      'ERR_RK_INVALID_OPTION',
      'new MemoryStore()',
      'maxKeys',
      `must be at least the number of policies one request is decided against (${n})`,
      maxKeys,
    )
  }
}
