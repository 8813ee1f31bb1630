import { noop } from './client.js'

/**
 * The releases a store queued in one tick (`Store.queueRelease`), and the one promise they share:
 * fulfilled once each of them has settled (answered, or failed). The store seals a group on the
 * tick after its first release, so a steady stream of releases never keeps one open: it settles
 * within the deadline of its last call.
 */
export class ReleaseGroup {
  readonly promise: Promise<void>
  #resolve: () => void = noop
  #pending = 0
  #sealed = false

  constructor() {
    this.promise = new Promise<void>((resolve) => {
      this.#resolve = resolve
    })
  }

  /** One more release in the group. */
  add(): void {
    this.#pending++
  }

  /** One of its releases settled, either way (a call's `resolve`: one function for the whole group). */
  readonly settled = (): void => {
    if (--this.#pending === 0 && this.#sealed) this.#resolve()
  }

  /** No more releases join: it fulfils once those it has settle (at once, if they have). */
  seal(): void {
    this.#sealed = true
    if (this.#pending === 0) this.#resolve()
  }
}
