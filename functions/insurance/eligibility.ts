import type { Context } from "hono";
import { inBackground } from "../http/background.ts";
import { queryEligibility, UpstreamError } from "./client.ts";
import { ClientClosedError, DeadlineExceededError, type Deadline } from "../../core/deadline.ts";
import type { AppEnv } from "../env.ts";
import { metrics } from "../observability/metrics.ts";
import { breakerFor } from "../resilience/breaker/select.ts";
import { CircuitOpenError, type BreakerCall, type BreakerView } from "../resilience/breaker/circuit.ts";
import { log } from "../../core/log.ts";

/** Why an eligibility answer is unknown: said in the booking's response and the 503's detail. */
export const UNKNOWN_REASONS = ["breaker-open", "upstream-failed", "upstream-timeout", "not-configured"] as const;
export type UnknownReason = (typeof UNKNOWN_REASONS)[number];

export type EligibilityOutcome =
  { eligibility: "covered" | "not_covered" } | { eligibility: "unknown"; reason: UnknownReason; retryAfterMs: number };

/**
 * Asks the insurer whether `memberId` is covered on `serviceDate`, through the insurer's circuit
 * breaker. Never fails because of the insurer: an open circuit, a failed call or `deadline`
 * running out become an `unknown` outcome with the reason and when to try again. The request
 * itself ending (its own deadline, the client leaving) still throws, as everywhere else.
 * `deadline` may be shorter than the request's (a booking keeps time for its transaction).
 */
export async function checkEligibility(
  c: Context<AppEnv>,
  memberId: string,
  serviceDate: string,
  deadline: Deadline = c.var.deadline,
): Promise<EligibilityOutcome> {
  const config = c.var.config;
  const breaker = breakerFor(c.env, config, config.breaker.insuranceName, config.insurance.timeoutMs);
  const call: BreakerCall = {
    deadline,
    background: (name, task) => inBackground(c, name, task),
    span: c.var.span,
  };
  const started = performance.now();
  let outcome: EligibilityOutcome | undefined;
  try {
    const answer = await queryEligibility(
      config.insurance,
      { memberId, serviceDate },
      deadline,
      (attempt) => breaker.execute(call, attempt),
      c.var.span,
    );
    outcome = { eligibility: answer.covered ? "covered" : "not_covered" };
    return outcome;
  } catch (err) {
    const requestOver =
      c.var.deadline.signal.aborted ||
      err instanceof ClientClosedError ||
      (err instanceof DeadlineExceededError && deadline === c.var.deadline);
    if (requestOver) throw err;
    outcome = unknown(err, breaker.view(), c.var.requestId);
    return outcome;
  } finally {
    report(c, breaker.view(), outcome, performance.now() - started);
  }
}

function unknown(err: unknown, view: BreakerView, requestId: string): EligibilityOutcome {
  if (err instanceof CircuitOpenError)
    return { eligibility: "unknown", reason: "breaker-open", retryAfterMs: err.retryAfterMs };
  if (!(err instanceof UpstreamError) && !(err instanceof DeadlineExceededError)) throw err;
  if (err instanceof UpstreamError && err.failure === "not-configured") {
    log.error("insurance eligibility is not configured", { requestId, error: err.message });
    return { eligibility: "unknown", reason: "not-configured", retryAfterMs: 0 };
  }
  log.warn("insurance eligibility call failed", {
    requestId,
    // Never the member id (personal data) nor the key.
    failure: err instanceof UpstreamError ? err.failure : "deadline",
    status: err instanceof UpstreamError ? err.status : undefined,
    error: err.message,
    breaker: view.state,
  });
  const timedOut = err instanceof DeadlineExceededError || err.failure === "timeout";
  return {
    eligibility: "unknown",
    reason: timedOut ? "upstream-timeout" : "upstream-failed",
    retryAfterMs: view.retryAfterMs,
  };
}

/**
 * `Server-Timing: breaker;desc="insurance=open scope=shared", insurance;dur=…;desc="breaker-open"`:
 * the breaker's state as this request saw it, and what the eligibility check gave.
 */
function report(c: Context<AppEnv>, view: BreakerView, outcome: EligibilityOutcome | undefined, ms: number): void {
  const result = outcome ? (outcome.eligibility === "unknown" ? outcome.reason : outcome.eligibility) : "aborted";
  c.header("Server-Timing", `breaker;desc="${view.name}=${view.state} scope=${view.scope}"`, { append: true });
  c.var.span.setAttribute(`breaker.${view.name}.state`, view.state);
  c.var.span.setAttribute("eligibility.result", result);
  c.var.outcomes.breaker = view.state;
  for (const state of ["closed", "open", "half-open"] as const) {
    metrics.breakerState.set({ breaker: view.name, state }, state === view.state ? 1 : 0);
  }
  c.header("Server-Timing", `insurance;dur=${ms.toFixed(1)};desc="${result}"`, { append: true });
}
