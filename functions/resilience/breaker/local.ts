import {
  BrokenCircuitError,
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
} from "cockatiel";
import type { BreakerSettings } from "../../config/index.ts";
import {
  CircuitOpenError,
  breakerCounters,
  countsAsFailure,
  logTransition,
  type BreakerCall,
  type BreakerView,
  type CircuitBreaker,
  type CircuitStateName,
} from "./circuit.ts";

const NAMES: Partial<Record<CircuitState, CircuitStateName>> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
};

/** A half-open probe whose caller went away: not the dependency's failure, but no success either. */
class AbandonedProbe extends Error {
  constructor(cause: unknown) {
    super("half-open probe abandoned by its caller", { cause });
  }
}

/**
 * A cockatiel breaker in this isolate's memory: what BREAKER_SCOPE=isolate uses, and what the
 * shared breaker falls back to while its Durable Object cannot be reached. It sees only this
 * isolate's calls, so every isolate discovers an outage by itself (github.com/connor4312/cockatiel/issues/89).
 */
export class LocalBreaker implements CircuitBreaker {
  readonly #name: string;
  readonly #openMs: number;
  readonly #policy: CircuitBreakerPolicy;
  readonly #probeBudgetMs: number;
  #openedAt = 0;

  /** `probeBudgetMs`: what a caller needs left to be the half-open probe (see SharedBreakerOptions). */
  constructor(name: string, settings: BreakerSettings, probeBudgetMs = 0) {
    this.#name = name;
    this.#openMs = settings.openMs;
    this.#probeBudgetMs = probeBudgetMs;
    this.#policy = circuitBreaker(handleWhen(countsAsFailure), {
      breaker: new ConsecutiveBreaker(settings.failureThreshold),
      halfOpenAfter: settings.openMs,
    });
    const counters = breakerCounters(name);
    let from: CircuitStateName = "closed";
    this.#policy.onStateChange((state) => {
      const to = NAMES[state] ?? "open";
      if (to === "open") this.#openedAt = Date.now();
      counters.transitions[to]++;
      logTransition({ breaker: name, scope: "local", from, to });
      from = to;
    });
  }

  async execute<T>(call: BreakerCall, attempt: () => Promise<T>): Promise<T> {
    const counters = breakerCounters(this.#name);
    // cockatiel queues calls behind a half-open probe until it is decided: that would tie one
    // request's wait to another request's I/O, so they are refused instead. A call that would be
    // the probe (open, its time over) is refused too when its caller cannot wait a whole attempt.
    const wouldProbe = this.#policy.state === CircuitState.Open && this.view().retryAfterMs === 0;
    if (
      this.#policy.state === CircuitState.HalfOpen ||
      (wouldProbe && call.deadline.remaining() < this.#probeBudgetMs)
    ) {
      counters.shortCircuited++;
      throw new CircuitOpenError(this.#name, 0);
    }
    let ran = false;
    try {
      const value = await this.#policy.execute(async () => {
        ran = true;
        counters.calls++;
        const probe = this.#policy.state === CircuitState.HalfOpen;
        if (probe) counters.probes++;
        try {
          return await attempt();
        } catch (err) {
          // cockatiel counts an error it does not handle as a success, and a success closes a
          // half-open circuit: a probe its caller gave up on would close it with no sign of
          // recovery. It reopens instead, as the shared breaker does with an undecided probe.
          if (probe && !countsAsFailure(err)) throw new AbandonedProbe(err);
          throw err;
        }
      });
      counters.successes++;
      return value;
    } catch (err) {
      if (err instanceof BrokenCircuitError) {
        counters.shortCircuited++;
        throw new CircuitOpenError(this.#name, this.view().retryAfterMs);
      }
      if (err instanceof AbandonedProbe) throw err.cause;
      if (ran && countsAsFailure(err)) counters.failures++;
      throw err;
    }
  }

  view(): BreakerView {
    const state = NAMES[this.#policy.state] ?? "open";
    const retryAfterMs = state === "open" ? Math.max(0, this.#openedAt + this.#openMs - Date.now()) : 0;
    return { name: this.#name, scope: "local", state, retryAfterMs };
  }
}
