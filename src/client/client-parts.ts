import { ClientEmitter } from './events.js'
import type { CompiledOptions } from './options.js'
import { Pacer } from './pacer.js'
import { ConcurrencyGate, RateGate } from './queue.js'

/** What every call of one client shares: its options, what it learnt of each budget, its queue, its listeners. */
export interface ClientParts {
  readonly options: CompiledOptions
  /** `undefined` when pacing is off. */
  readonly pacer: Pacer | undefined
  readonly concurrency: ConcurrencyGate | undefined
  /** The in-process rate of `queue.rate`. */
  readonly localRate: RateGate | undefined
  /** The shared `limiter`. */
  readonly sharedRate: RateGate | undefined
  readonly events: ClientEmitter
}

/** Builds the parts a client's options ask for; the others stay `undefined`. */
export function buildParts(options: CompiledOptions): ClientParts {
  const { now, sleep } = options
  return {
    options,
    pacer: options.paceThreshold === undefined ? undefined : new Pacer(options.paceThreshold, options.maxBlockMs, options.paceProbeFirst),
    concurrency: options.concurrency === undefined ? undefined : new ConcurrencyGate(options.concurrency, now, sleep),
    localRate: options.localRate === undefined ? undefined : new RateGate(options.localRate.limiter, now, sleep),
    sharedRate: options.limiter === undefined ? undefined : new RateGate(options.limiter, now, sleep),
    events: new ClientEmitter(),
  }
}
