/** Greatest common divisor of two non-negative integers. */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b
    a = b
    b = t
  }
  return a
}

/**
 * The latest epoch ms the integer arithmetic must stay exact for (2200-01-01). Validations keep
 * every intermediate value below 2^53 up to this time.
 */
export const MAX_TIME_MS = 7_258_118_400_000
