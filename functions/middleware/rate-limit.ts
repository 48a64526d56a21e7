import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { problemResponse } from "../http/errors.ts";
import { isWriteMethod } from "../http/methods.ts";
import { metrics } from "../observability/metrics.ts";
import { askLimiter, callerKey } from "../resilience/rate-limiter/client.ts";
import { isolateFloor } from "../resilience/rate-limiter/floor.ts";
import { isolateLeases, leaseKey, leaseSize } from "../resilience/rate-limiter/lease.ts";
import type { PolicyState, RateLimitDecision, RateLimitPolicy } from "../resilience/rate-limiter/object.ts";
import { EXEMPT_PATHS } from "./shed-load.ts";

/** The policies this request is held to: everything, and writes on their own when configured. */
function policiesFor(c: Context<AppEnv>): RateLimitPolicy[] {
  const { requests, writeRequests, windowMs } = c.get("config").rateLimit;
  const policies: RateLimitPolicy[] = [];
  if (requests > 0) policies.push({ name: "default", limit: requests, windowMs });
  if (writeRequests > 0 && isWriteMethod(c.req.method))
    policies.push({ name: "write", limit: writeRequests, windowMs });
  return policies;
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1_000));

/**
 * The IETF draft's headers (draft-ietf-httpapi-ratelimit-headers): the policies, and where the
 * caller stands (r: remaining, t: seconds until the oldest counted request leaves the window).
 */
function setRateLimitHeaders(res: Response, states: PolicyState[]): void {
  res.headers.set(
    "RateLimit-Policy",
    states.map((s) => `"${s.name}";q=${s.limit};w=${seconds(s.windowMs)}`).join(", "),
  );
  res.headers.set("RateLimit", states.map((s) => `"${s.name}";r=${s.remaining};t=${seconds(s.resetMs)}`).join(", "));
}

/**
 * Per-caller rate limits (RATE_LIMIT_REQUESTS, RATE_LIMIT_WRITE_REQUESTS per RATE_LIMIT_WINDOW_MS),
 * held by one RateLimiter Durable Object per caller. Over the limit: 429 problem with Retry-After
 * and the RateLimit headers; under it, the response carries the RateLimit headers too. Health
 * checks are exempt. Must run after authentication, so the caller is counted by principal.
 *
 * A busy caller costs one object round trip per lease, not per request: the request that asks
 * takes a batch (leaseSize()) and this isolate's next requests of the caller spend it without
 * waiting (resilience/rate-limiter/lease.ts, with the bound on overshoot). A small limit gets no
 * lease, every request asks, exactly as before. When the object does not answer, the request goes
 * on (fails open) only while this isolate's own count of the caller is under its limits
 * (resilience/rate-limiter/floor.ts): overloading one's own object does not lift the limit.
 */
export function rateLimit(): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    const policies = policiesFor(c);
    if (policies.length === 0 || EXEMPT_PATHS.has(c.req.path)) return next();
    const { max: leaseMax, ms: leaseMs } = c.get("config").rateLimitLease;
    const caller = callerKey(c);
    const key = leaseKey(caller, policies);
    const leased = isolateLeases.spend(key, Date.now());
    if (leased) {
      metrics.rateLimitDecisions.inc({ outcome: "allowed" });
      await next();
      setRateLimitHeaders(c.res, leased);
      return;
    }
    // A caller that had its limit here while its object failed to answer is refused at once.
    const floored = isolateFloor.refusal(caller, policies, Date.now());
    if (floored) return limited(c, floored);
    const batch = leaseSize(policies, leaseMax);
    // One request per caller and isolate asks for a batch at a time; the others ask for themselves.
    const leasing = batch > 1 && isolateLeases.claim(key);
    let decision: RateLimitDecision | undefined;
    try {
      decision = await askLimiter(c, policies, leasing ? batch : 1);
    } finally {
      if (leasing) isolateLeases.release(key);
    }
    if (!decision) {
      // No answer: this isolate's own count holds the caller to its limits (resilience/rate-limiter/floor.ts).
      const local = isolateFloor.take(caller, policies, Date.now());
      if (!local.allowed) return limited(c, local);
      metrics.rateLimitDecisions.inc({ outcome: "failed-open" });
      c.get("outcomes").ratelimit = "failed-open";
      return next();
    }
    if (!decision.allowed) return limited(c, decision);
    if (leasing) isolateLeases.store(key, decision, Date.now(), leaseMs);
    metrics.rateLimitDecisions.inc({ outcome: "allowed" });
    await next();
    // Where the caller stands, this isolate's unspent lease included (it is the caller's to use).
    setRateLimitHeaders(c.res, isolateLeases.report(key, decision.policies, Date.now()));
  };
}

/** 429 with Retry-After and the RateLimit headers, from the object's refusal or the isolate's floor. */
function limited(c: Context<AppEnv>, decision: RateLimitDecision): Response {
  metrics.rateLimitDecisions.inc({ outcome: "limited" });
  c.get("outcomes").ratelimit = "limited";
  const retryAfter = Math.max(1, seconds(decision.retryAfterMs));
  const res = problemResponse(c, "too-many-requests", `Rate limit exceeded; retry after ${retryAfter} s`);
  res.headers.set("Retry-After", String(retryAfter));
  setRateLimitHeaders(res, decision.policies);
  return res;
}
