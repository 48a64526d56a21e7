import type { MiddlewareHandler } from "hono";
import { Deadline } from "../../core/deadline.ts";
import type { AppEnv } from "../env.ts";
import { ValidationError } from "../http/errors.ts";

/** The client's own, shorter budget for one request, in milliseconds (docs/api.md, "Budgets"). */
export const TIMEOUT_HEADER = "X-Request-Timeout-Ms";

function requestedBudget(header: string | undefined, max: number): number | undefined {
  if (header === undefined) return undefined;
  const ms = /^\d{1,9}$/.test(header.trim()) ? Number(header.trim()) : Number.NaN;
  if (!(ms >= 1)) {
    throw new ValidationError([
      { field: TIMEOUT_HEADER, in: "header", message: "must be a whole number of milliseconds, at least 1" },
    ]);
  }
  return Math.min(ms, max);
}

/**
 * Gives the request its Deadline: the configured default budget, or the client's shorter one from
 * X-Request-Timeout-Ms (capped at the configured maximum), cancelled early when the client
 * disconnects (request.signal, `enable_request_signal`).
 */
export function deadline(): MiddlewareHandler<AppEnv> {
  return async function deadline(c, next) {
    const { defaultMs, maxMs } = c.get("config").budget;
    const requested = requestedBudget(c.req.header(TIMEOUT_HEADER), maxMs);
    c.set("requestedBudgetMs", requested);
    c.set("deadline", Deadline.start(Math.min(requested ?? defaultMs, maxMs), c.req.raw.signal));
    await next();
  };
}

/**
 * A route's own default budget (a health check should fail fast, a report may need longer). The
 * clock still runs from the request's start, and a shorter client budget still wins.
 */
export function budget(ms: number): MiddlewareHandler<AppEnv> {
  return async function routeBudget(c, next) {
    const { maxMs } = c.get("config").budget;
    const current = c.get("deadline");
    const startedAt = current.at - current.budgetMs;
    c.set(
      "deadline",
      Deadline.start(Math.min(c.get("requestedBudgetMs") ?? ms, ms, maxMs), c.req.raw.signal, startedAt),
    );
    await next();
  };
}
