import type { Config } from "../../config/index.ts";
import type { CircuitBreaker } from "./circuit.ts";
import { LocalBreaker } from "./local.ts";
import { SharedBreaker } from "./client.ts";

/** Time for an outcome to travel to the object after the call itself has ended. */
const REPORT_GRACE_MS = 1_000;

const breakers = new Map<string, CircuitBreaker>();

/**
 * This isolate's breaker for one dependency, kept in module memory so its view outlives the
 * request (it holds plain values only, never a request's I/O objects). Keyed by its settings too:
 * a configuration change starts a fresh view instead of reusing one built for other numbers.
 */
export function breakerFor(env: Env, config: Config, name: string, longestAttemptMs: number): CircuitBreaker {
  const { scope, viewTtlMs, failureThreshold, openMs, halfOpenProbes } = config.breaker;
  const settings = { failureThreshold, openMs, halfOpenProbes };
  const key = JSON.stringify([scope, name, settings, viewTtlMs, longestAttemptMs]);
  let breaker = breakers.get(key);
  if (!breaker) {
    breaker =
      scope === "shared"
        ? new SharedBreaker({
            name,
            settings,
            viewTtlMs,
            probeLeaseMs: longestAttemptMs + REPORT_GRACE_MS,
            probeBudgetMs: longestAttemptMs,
            namespace: env.BREAKER,
          })
        : new LocalBreaker(name, settings, longestAttemptMs);
    breakers.set(key, breaker);
  }
  return breaker;
}
