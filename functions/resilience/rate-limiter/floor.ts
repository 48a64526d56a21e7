import type { PolicyState, RateLimitDecision, RateLimitPolicy } from "./object.ts";

/**
 * The per-isolate floor under the fail-open path (docs/decisions/0009-rate-limit-leases.md): when
 * a caller's RateLimiter object does not answer (unreachable, or made slow by the caller itself),
 * the isolate still holds the caller to its limits with a local count, so failing open admits at
 * most `limit` of one caller per isolate per window: a caller cannot escape its limit by
 * overloading its own object. A caller under the limit still goes on, as before.
 *
 * One fixed window per caller and policy, opened by the caller's first failed-open request: a
 * count and a start, no log, so an entry is a few numbers whatever the limit. The map is capped
 * (least recently used caller out first) and written only when an object fails to answer; a
 * request that asks the object first pays one size check (and one lookup once anything failed open).
 */

interface Window {
  /** The policy's limit and window when this window opened: another configuration starts afresh. */
  limit: number;
  windowMs: number;
  start: number;
  count: number;
}

/** The caller's live window of `p`, if any. */
function liveWindow(windows: Map<string, Window> | undefined, p: RateLimitPolicy, now: number): Window | undefined {
  const w = windows?.get(p.name);
  return w && w.limit === p.limit && w.windowMs === p.windowMs && now < w.start + p.windowMs ? w : undefined;
}

function stateOf(w: Window | undefined, p: RateLimitPolicy, now: number): PolicyState {
  return {
    name: p.name,
    limit: p.limit,
    windowMs: p.windowMs,
    remaining: w ? Math.max(0, p.limit - w.count) : p.limit,
    resetMs: w ? w.start + p.windowMs - now : 0,
  };
}

export class LocalFloor {
  /** By caller key, then policy name. */
  readonly #callers = new Map<string, Map<string, Window>>();
  readonly #maxCallers: number;

  constructor(maxCallers = 10_000) {
    this.#maxCallers = maxCallers;
  }

  /** Callers this isolate holds floor windows for. */
  get size(): number {
    return this.#callers.size;
  }

  /**
   * The refusal when any of the caller's floor windows is full (without counting, and without
   * asking the object: the caller has had its limit in this isolate already), else undefined.
   * One map lookup; nothing allocated unless refusing.
   */
  refusal(caller: string, policies: readonly RateLimitPolicy[], now: number): RateLimitDecision | undefined {
    if (this.#callers.size === 0) return undefined;
    const windows = this.#callers.get(caller);
    if (!windows) return undefined;
    for (const p of policies) {
      const w = liveWindow(windows, p, now);
      if (w && w.count >= p.limit) return refused(policies.map((q) => stateOf(liveWindow(windows, q, now), q, now)));
    }
    return undefined;
  }

  /**
   * A failed-open request: admitted and counted against every policy if each has room, else
   * refused (counted against none), as the object would.
   */
  take(caller: string, policies: readonly RateLimitPolicy[], now: number): RateLimitDecision {
    const windows = this.#callers.get(caller);
    const states = policies.map((p) => stateOf(liveWindow(windows, p, now), p, now));
    if (states.some((s) => s.remaining === 0)) return refused(states);
    const counted = windows ?? new Map<string, Window>();
    for (const p of policies) {
      const w = liveWindow(counted, p, now);
      if (w) w.count++;
      else counted.set(p.name, { limit: p.limit, windowMs: p.windowMs, start: now, count: 1 });
    }
    // Re-inserted: Map order is least recently used first, and that is what goes when full.
    this.#callers.delete(caller);
    if (this.#callers.size >= this.#maxCallers) {
      const oldest = this.#callers.keys().next().value;
      if (oldest !== undefined) this.#callers.delete(oldest);
    }
    this.#callers.set(caller, counted);
    return {
      allowed: true,
      granted: 1,
      retryAfterMs: 0,
      policies: states.map((s) => ({ ...s, remaining: s.remaining - 1, resetMs: s.resetMs || s.windowMs })),
    };
  }
}

function refused(states: PolicyState[]): RateLimitDecision {
  return {
    allowed: false,
    granted: 0,
    retryAfterMs: Math.max(...states.filter((s) => s.remaining === 0).map((s) => s.resetMs)),
    policies: states,
  };
}

/** This isolate's floor. */
export const isolateFloor = new LocalFloor();
