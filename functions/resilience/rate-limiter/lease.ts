import type { PolicyState, RateLimitDecision, RateLimitPolicy } from "./object.ts";

/**
 * Per-isolate leases on a caller's allowance (docs/decisions/0009-rate-limit-leases.md): one
 * request of a busy caller asks the caller's RateLimiter object for a batch of admissions, which
 * the object counts at once; the isolate's next requests of that caller spend the rest locally,
 * without a round trip, until the batch is spent or `leaseMs` old. The object never admits more
 * than the limit in a window; what a lease changes is *when* its admissions are used: up to
 * `leaseMs` (≤ the window) after they were counted, so across a window's edge a caller can get at
 * most isolates × lease size more than the limit. One request per caller and isolate asks for a
 * batch at a time (the others ask for themselves only), so an isolate never holds more than one
 * batch.
 */

/** Share of the limit one lease may take: a small limit (tests, strict policies) stays exact. */
const LEASE_SHARE = 20;

/** Admissions to ask for at once: 1/20 of the tightest limit, at most `leaseMax`, at least 1 (no lease). */
export function leaseSize(policies: readonly RateLimitPolicy[], leaseMax: number): number {
  const tightest = Math.min(...policies.map((p) => p.limit));
  return Math.max(1, Math.min(leaseMax, Math.floor(tightest / LEASE_SHARE)));
}

/** One lease's key: the caller and the policies it was granted under (a new configuration starts afresh). */
export function leaseKey(caller: string, policies: readonly RateLimitPolicy[]): string {
  return `${caller} ${policies.map((p) => `${p.name}:${p.limit}/${p.windowMs}`).join(",")}`;
}

interface Lease {
  /** Admissions left to spend. */
  tokens: number;
  grantedAt: number;
  expiresAt: number;
  /** The object's answer when it granted the lease (remaining already net of the whole batch). */
  states: PolicyState[];
}

/** The leases one isolate holds, by leaseKey(). */
export class LeaseBook {
  readonly #leases = new Map<string, Lease>();
  readonly #asking = new Set<string>();
  readonly #maxKeys: number;

  constructor(maxKeys = 10_000) {
    this.#maxKeys = maxKeys;
  }

  /**
   * Spends one admission of `key`'s lease: where the caller stands, as this isolate sees it (the
   * object's count plus what this isolate has not spent yet), or undefined when there is no live
   * lease (none, spent, or aged).
   */
  spend(key: string, now: number): PolicyState[] | undefined {
    const lease = this.#leases.get(key);
    if (!lease) return undefined;
    if (lease.tokens <= 0 || now >= lease.expiresAt) {
      this.#leases.delete(key);
      return undefined;
    }
    lease.tokens--;
    const elapsed = now - lease.grantedAt;
    return lease.states.map((s) => ({
      ...s,
      remaining: s.remaining + lease.tokens,
      resetMs: Math.max(1, s.resetMs - elapsed),
    }));
  }

  /** Whether this request may ask for a batch for `key`: no other request of this isolate is asking. */
  claim(key: string): boolean {
    if (this.#asking.has(key)) return false;
    this.#asking.add(key);
    return true;
  }

  release(key: string): void {
    this.#asking.delete(key);
  }

  /** Keeps what the object granted beyond the asking request itself, spendable until `now + leaseMs`. */
  store(key: string, decision: RateLimitDecision, now: number, leaseMs: number): void {
    const tokens = decision.granted - 1;
    // `!(> 0)`: an object still running the code from before leases answers without `granted` (NaN).
    if (!decision.allowed || !(tokens > 0)) return;
    if (!this.#leases.has(key) && this.#leases.size >= this.#maxKeys) {
      // The oldest entry (Map order); an idle caller's lease is the cheapest to lose.
      const oldest = this.#leases.keys().next().value;
      if (oldest !== undefined) this.#leases.delete(oldest);
    }
    this.#leases.delete(key);
    this.#leases.set(key, { tokens, grantedAt: now, expiresAt: now + leaseMs, states: decision.policies });
  }

  /** `states` (the object's answer) with this isolate's unspent admissions for `key` counted as remaining. */
  report(key: string, states: PolicyState[], now: number): PolicyState[] {
    const held = this.held(key, now);
    return held === 0 ? states : states.map((s) => ({ ...s, remaining: s.remaining + held }));
  }

  /** Admissions held for `key` and not yet spent (0 when the lease has aged). */
  held(key: string, now: number): number {
    const lease = this.#leases.get(key);
    return lease && now < lease.expiresAt ? lease.tokens : 0;
  }
}

/** This isolate's leases. */
export const isolateLeases = new LeaseBook();
