/**
 * A request's time budget, Go's context.WithTimeout for the edge: one AbortSignal that fires at the
 * deadline or when the client goes away, carried from the handler down to Postgres, outbound fetch
 * and Durable Object calls. Unlike Hono's timeout(), which only races a timer, everything that
 * takes a Deadline stops its own work when it fires.
 */

/** Where a request ran out of time: said in the 504's detail. */
export type DeadlineStage = "db" | "upstream" | "coalescer" | "request" | "background";

/** The budget ran out (504). */
export class DeadlineExceededError extends Error {
  readonly stage: DeadlineStage;
  constructor(stage: DeadlineStage, options?: ErrorOptions) {
    super(`deadline exceeded while waiting for ${STAGE_TEXT[stage]}`, options);
    this.name = "DeadlineExceededError";
    this.stage = stage;
  }
}

/** The client disconnected before the answer: nothing more is done for it. */
export class ClientClosedError extends Error {
  constructor(options?: ErrorOptions) {
    super("the client closed the request", options);
    this.name = "ClientClosedError";
  }
}

const STAGE_TEXT: Record<DeadlineStage, string> = {
  db: "the database",
  upstream: "an upstream service",
  coalescer: "the shared cache (coalescer)",
  request: "the request",
  background: "a background task",
};

export class Deadline {
  /** Absolute deadline, epoch milliseconds. */
  readonly at: number;
  readonly budgetMs: number;
  readonly #parent: AbortSignal | undefined;
  #signal: AbortSignal | undefined;

  private constructor(at: number, budgetMs: number, parent: AbortSignal | undefined) {
    this.at = at;
    this.budgetMs = budgetMs;
    this.#parent = parent;
  }

  /**
   * A budget counted from `startedAt`, cancelled early by `parent` (the client's disconnect).
   * Costs no timer until something waits on it (see `signal`).
   */
  static start(budgetMs: number, parent?: AbortSignal, startedAt = Date.now()): Deadline {
    return new Deadline(startedAt + budgetMs, budgetMs, parent);
  }

  /**
   * Fires at the deadline or when the client goes away. Made on first use: most of a trivial
   * request's middleware never waits on anything, and a timer plus AbortSignal.any per request was
   * a measurable share of its CPU. AbortSignal.timeout uses the runtime's timers, which on Workers
   * advance with I/O, not CPU; a deadline already past is aborted at once.
   */
  get signal(): AbortSignal {
    if (!this.#signal) {
      const left = this.remaining();
      const timeout =
        left > 0
          ? AbortSignal.timeout(left)
          : AbortSignal.abort(new DOMException("The operation timed out.", "TimeoutError"));
      this.#signal = this.#parent ? AbortSignal.any([this.#parent, timeout]) : timeout;
    }
    return this.#signal;
  }

  /** Milliseconds left (never negative). */
  remaining(): number {
    return Math.max(0, this.at - Date.now());
  }

  /** True when the client went away rather than the time running out. */
  get clientGone(): boolean {
    return this.signal.aborted && !isTimeout(this.signal.reason);
  }

  /** The error for an abort observed at `stage`. */
  error(stage: DeadlineStage): DeadlineExceededError | ClientClosedError {
    const cause: unknown = this.signal.reason;
    return this.clientGone ? new ClientClosedError({ cause }) : new DeadlineExceededError(stage, { cause });
  }

  /** Throws the stage's error if the deadline has already fired. */
  check(stage: DeadlineStage): void {
    if (this.signal.aborted) throw this.error(stage);
  }

  /**
   * Waits for `work` but no longer than the deadline. The work itself is not stopped here: the
   * caller stops it (closes the connection, aborts the fetch); `onLate` receives a result that
   * arrives after the caller gave up, so it can be released.
   */
  async race<T>(work: Promise<T>, stage: DeadlineStage, onLate?: (value: T) => void): Promise<T> {
    this.check(stage);
    let abandoned = false;
    const { promise: aborted, reject } = Promise.withResolvers<never>();
    const onAbort = () => {
      abandoned = true;
      reject(this.error(stage));
    };
    this.signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await Promise.race([
        work.then(
          (value) => {
            if (abandoned) onLate?.(value);
            return value;
          },
          (err: unknown) => {
            if (abandoned) return undefined as never;
            throw err;
          },
        ),
        aborted,
      ]);
    } finally {
      this.signal.removeEventListener("abort", onAbort);
    }
  }
}

function isTimeout(reason: unknown): boolean {
  return reason instanceof DOMException && reason.name === "TimeoutError";
}
