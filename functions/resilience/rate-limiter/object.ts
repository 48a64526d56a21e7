import { DurableObject } from "cloudflare:workers";

/** One limit a caller is held to: at most `limit` admitted requests in any window of `windowMs`. */
export interface RateLimitPolicy {
  /** Names the policy in the RateLimit headers ("default", "write"). */
  name: string;
  limit: number;
  windowMs: number;
}

/** Where a caller stands against one policy after this request. */
export interface PolicyState {
  name: string;
  limit: number;
  windowMs: number;
  /** Requests still admitted in the current window. */
  remaining: number;
  /** Milliseconds until the oldest counted request leaves the window (0: nothing counted). */
  resetMs: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  /**
   * Admissions granted and counted: 1 for a plain request, up to the asked batch for a lease
   * (functions/resilience/rate-limiter/lease.ts); 0 when refused.
   */
  granted: number;
  /** When refused: milliseconds until every refusing policy admits one more request. */
  retryAfterMs: number;
  policies: PolicyState[];
}

/**
 * The admission times of the last `limit` admitted requests, oldest first, in a ring buffer: a
 * sliding-window log. It is exact (never more than `limit` in any window, no burst at a fixed
 * window's edge) and costs `limit` numbers per policy of one caller.
 */
class SlidingLog {
  readonly #times: Float64Array;
  #head = 0;
  #size = 0;

  readonly limit: number;
  readonly windowMs: number;

  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.#times = new Float64Array(limit);
  }

  /** Forgets admissions that have left the window ending at `now`. */
  #expire(now: number): void {
    while (this.#size > 0 && this.#times[this.#head]! <= now - this.windowMs) {
      this.#head = (this.#head + 1) % this.limit;
      this.#size--;
    }
  }

  state(name: string, now: number): PolicyState {
    this.#expire(now);
    const oldest = this.#size > 0 ? this.#times[this.#head]! : undefined;
    return {
      name,
      limit: this.limit,
      windowMs: this.windowMs,
      remaining: this.limit - this.#size,
      resetMs: oldest === undefined ? 0 : oldest + this.windowMs - now,
    };
  }

  admit(now: number): void {
    this.#times[(this.#head + this.#size) % this.limit] = now;
    this.#size++;
  }
}

/**
 * The rate limit of one caller (idFromName(callerKey)): every isolate asks the same object, so the
 * limit holds fleet-wide and exactly, unlike per-isolate counters or Cloudflare's eventually
 * consistent rate limiting binding (docs/decisions/0007-own-rate-limiter.md). State is memory only: an object is
 * evicted only after being idle, and an idle caller's window is empty anyway unless the window is
 * longer than the idle time; then the caller gets a fresh window, which errs on the side of serving.
 */
export class RateLimiter extends DurableObject<Env> {
  readonly #logs = new Map<string, SlidingLog>();

  /**
   * Admits up to `want` requests (an isolate's lease; 1 for a single request) if every policy has
   * room for at least one, as many as the tightest policy has room for, and counts them all now
   * against every policy; a refused request counts against none (a client that waits as told is
   * served).
   */
  take(policies: RateLimitPolicy[], want = 1): RateLimitDecision {
    const now = Date.now();
    const logs = policies.map((p) => this.#log(p));
    const states = logs.map((log, i) => log.state(policies[i]!.name, now));
    const refusing = states.filter((s) => s.remaining === 0);
    if (refusing.length > 0) {
      return {
        allowed: false,
        granted: 0,
        retryAfterMs: Math.max(...refusing.map((s) => s.resetMs)),
        policies: states,
      };
    }
    const granted = Math.max(1, Math.min(Math.floor(want), ...states.map((s) => s.remaining)));
    for (const log of logs) for (let i = 0; i < granted; i++) log.admit(now);
    return {
      allowed: true,
      granted,
      retryAfterMs: 0,
      // After admitting: `granted` fewer left, and a window that now holds at least these requests.
      policies: states.map((s) => ({ ...s, remaining: s.remaining - granted, resetMs: s.resetMs || s.windowMs })),
    };
  }

  /** The policy's log; a changed limit or window (new configuration) starts a new one. */
  #log(policy: RateLimitPolicy): SlidingLog {
    const log = this.#logs.get(policy.name);
    if (log && log.limit === policy.limit && log.windowMs === policy.windowMs) return log;
    const fresh = new SlidingLog(policy.limit, policy.windowMs);
    this.#logs.set(policy.name, fresh);
    return fresh;
  }
}
