/**
 * A simulated distance to the database for the local stand-ins (DEV_DB_RTT_MS): the Worker runs
 * next to the user and Postgres in one region, so every exchange with it pays a WAN round trip.
 * The /sql endpoint and the WebSocket bridge each hold a message for half the round trip on its way
 * in and half on its way out, so one request/response exchange costs the whole round trip and two
 * exchanges cost two, as on a real wire.
 */

/** DEV_DB_RTT_MS as a number of milliseconds (0 when unset); anything else is refused by name. */
export function rttFromEnv(value = process.env.DEV_DB_RTT_MS): number {
  if (value === undefined || value.trim() === "") return 0;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0 || ms > 10_000) {
    throw new Error(`DEV_DB_RTT_MS must be a number of milliseconds from 0 to 10000, got "${value}"`);
  }
  return ms;
}

export const delay = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();

/**
 * Delivers what it is given `ms` later, in the order given: one direction of a wire with a fixed
 * propagation delay (bytes sent back to back arrive back to back, each `ms` late).
 */
export class DelayLine<T> {
  readonly #ms: number;
  readonly #deliver: (item: T) => void;
  readonly #queue: Array<{ at: number; item: T }> = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number, deliver: (item: T) => void) {
    this.#ms = ms;
    this.#deliver = deliver;
  }

  push(item: T): void {
    if (this.#ms <= 0 && this.#queue.length === 0) {
      this.#deliver(item);
      return;
    }
    this.#queue.push({ at: performance.now() + this.#ms, item });
    this.#timer ??= setTimeout(() => this.#flush(), this.#ms);
  }

  /** Drops what is still on the wire (the connection is gone). */
  clear(): void {
    this.#queue.length = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #flush(): void {
    this.#timer = undefined;
    const now = performance.now();
    while (this.#queue.length > 0 && this.#queue[0]!.at <= now + 1) this.#deliver(this.#queue.shift()!.item);
    const next = this.#queue[0];
    if (next) this.#timer = setTimeout(() => this.#flush(), Math.max(0, next.at - now));
  }
}
