import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { problemResponse } from "../http/errors.ts";
import { countsByKind } from "../../core/inflight.ts";
import { metrics } from "../observability/metrics.ts";

/** Probes must see the isolate's real state: a shed /readyz would take a healthy isolate out of rotation. */
export const EXEMPT_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz"]);

/**
 * Seconds a shed client should wait. Short on purpose: the overload is one isolate's, and the
 * retry will often land on another.
 */
const RETRY_AFTER_SECONDS = 1;

/**
 * Load shedding per isolate: when more than MAX_INFLIGHT_REQUESTS requests are in flight here (this
 * one included), a new request gets 503 at once instead of queueing behind the others and timing
 * out after holding memory and connections. The count is observe()'s own request tracking
 * (observability/inflight.ts), not a second counter. The 503 is returned, not thrown: an overloaded
 * isolate should not also pay for the error path (onError, logging of an "error").
 */
export function shedLoad(): MiddlewareHandler<AppEnv> {
  return async function shedLoad(c, next) {
    const max = c.get("config").maxInflightRequests;
    if (max === 0 || EXEMPT_PATHS.has(c.req.path)) return next();
    // Iterates what is in flight: O(work in flight), a few microseconds at the sizes a limit allows.
    const inFlight = countsByKind().request;
    if (inFlight <= max) return next();
    metrics.requestsShed.inc();
    const res = problemResponse(
      c,
      "service-unavailable",
      "The server is handling too many requests; try again shortly",
    );
    res.headers.set("Retry-After", String(RETRY_AFTER_SECONDS));
    return res;
  };
}
