import type { Deadline } from "../core/deadline.ts";

/**
 * A counting semaphore bounded by a Deadline: what pg-pool's `max` does for the WebSocket path,
 * for HTTP requests in flight. A Worker request may hold 6 outgoing connections at once; past
 * that the runtime queues silently, so the queue is kept here where it can be counted.
 */
export class Slots {
  #free: number;
  readonly #queue: Array<() => void> = [];

  constructor(max: number) {
    this.#free = max;
  }

  /** True when the next acquire() will queue. */
  get full(): boolean {
    return this.#free === 0;
  }

  async acquire(deadline: Deadline): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#queue.push(resolve);
    // A slot granted after the deadline gave up is handed straight on.
    await deadline.race(promise, "db", () => this.release());
  }

  release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#free++;
  }
}
