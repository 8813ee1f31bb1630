/** A manual clock for tests: never sleeps, never reads the wall clock. */
export function clock(start: number) {
  let t = start
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
    set: (ms: number) => {
      t = ms
    },
  }
}
