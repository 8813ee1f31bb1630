/** An admitted request: when it was decided (epoch ms) and what it cost. */
export interface Admission {
  readonly t: number
  readonly cost: number
}

/** The most cost admitted in any one fixed window of `windowMs` (windows aligned to epoch 0). */
export function maxPerWindow(admitted: readonly Admission[], windowMs: number): number {
  const perWindow = new Map<number, number>()
  for (const { t, cost } of admitted) perWindow.set(Math.floor(t / windowMs), (perWindow.get(Math.floor(t / windowMs)) ?? 0) + cost)
  return Math.max(0, ...perWindow.values())
}
