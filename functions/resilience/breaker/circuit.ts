/**
 * What every circuit breaker of clinic-edge shares: the state names, the error a refused call gets,
 * what counts as a failure, and the counters kept per breaker (in isolate memory) for /metrics.
 */
import { ClientClosedError, DeadlineExceededError } from "../../../core/deadline.ts";
import type { Deadline } from "../../../core/deadline.ts";
import type { Span } from "../../../core/telemetry/tracing.ts";
import { log } from "../../../core/log.ts";

export type CircuitStateName = "closed" | "open" | "half-open";

/** A call refused without touching the dependency. */
export class CircuitOpenError extends Error {
  readonly breaker: string;
  /** How long until the breaker may let calls through again (0: soon, not known exactly). */
  readonly retryAfterMs: number;
  constructor(breaker: string, retryAfterMs: number) {
    super(`circuit breaker "${breaker}" is open`);
    this.name = "CircuitOpenError";
    this.breaker = breaker;
    this.retryAfterMs = Math.max(0, Math.ceil(retryAfterMs));
  }
}

/**
 * Whatever an attempt throws is the dependency's failure (connection errors, 5xx, malformed
 * answers, its own per-call timeout), except a call its caller ended: the caller's own deadline or
 * departure says nothing about the dependency's health, and counting it would let any caller open
 * the circuit for everyone by asking for a tiny budget.
 */
export function countsAsFailure(err: unknown): boolean {
  return !(err instanceof ClientClosedError || err instanceof DeadlineExceededError);
}

/** What one request hands a breaker for one call. */
export interface BreakerCall {
  deadline: Deadline;
  /** Work that must outlive the response (reports, refreshes): ctx.waitUntil with its own budget. */
  background: (name: string, task: () => Promise<unknown>) => void;
  /** The request's span: calls to a shared breaker's object hang their hop spans under it. */
  span?: Span | undefined;
}

/** Where a breaker's decision came from, for Server-Timing and Retry-After. */
export interface BreakerView {
  name: string;
  /** "shared": the Durable Object's state as this isolate knows it; "local": this isolate's own breaker. */
  scope: "shared" | "local";
  state: CircuitStateName;
  /** Until calls may be let through again; 0 when closed. */
  retryAfterMs: number;
}

export interface CircuitBreaker {
  /** Runs `attempt` if the circuit lets it through, recording its outcome; else CircuitOpenError. */
  execute<T>(call: BreakerCall, attempt: () => Promise<T>): Promise<T>;
  view(): BreakerView;
}

/** Per breaker, per isolate: what /metrics will read (each isolate has its own). */
export interface BreakerCounters {
  /** Calls let through to the dependency, probes included. */
  calls: number;
  /** Of those, half-open probes (shared: permits granted by the object). */
  probes: number;
  successes: number;
  failures: number;
  /** Calls refused without a network round trip to the dependency. */
  shortCircuited: number;
  /** Round trips to the breaker's Durable Object (first sync, probe permits, reports, refreshes). */
  objectCalls: number;
  /** Of those, the ones that failed: the isolate-local breaker took over for a while. */
  objectErrors: number;
  /** Calls decided by the isolate-local breaker because the object could not be reached. */
  fallbackCalls: number;
  /** States entered: by the local breaker, or by this isolate's view of the shared one. */
  transitions: Record<CircuitStateName, number>;
}

const counters = new Map<string, BreakerCounters>();

/** Every breaker's counters in this isolate, by name (what /metrics exports). */
export function allBreakerCounters(): ReadonlyMap<string, BreakerCounters> {
  return counters;
}

/** The counters of the breaker `name` in this isolate (created on first use). */
export function breakerCounters(name: string): BreakerCounters {
  let c = counters.get(name);
  if (!c) {
    c = {
      calls: 0,
      probes: 0,
      successes: 0,
      failures: 0,
      shortCircuited: 0,
      objectCalls: 0,
      objectErrors: 0,
      fallbackCalls: 0,
      transitions: { closed: 0, open: 0, "half-open": 0 },
    };
    counters.set(name, c);
  }
  return c;
}

/** One JSON line per transition, written by whoever owns the state (the object, or a local breaker). */
export function logTransition(fields: {
  breaker: string;
  scope: "shared" | "local";
  from: CircuitStateName;
  to: CircuitStateName;
  consecutiveFailures?: number;
}): void {
  if (fields.to === "open") log.warn("circuit breaker transition", fields);
  else log.info("circuit breaker transition", fields);
}
