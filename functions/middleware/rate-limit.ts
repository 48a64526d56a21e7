import type { Context, MiddlewareHandler } from "hono";
import { ClientClosedError, DeadlineExceededError } from "../../core/deadline.ts";
import type { AppEnv } from "../env.ts";
import { problemResponse } from "../http/errors.ts";
import { track } from "../../core/inflight.ts";
import { SpanKind } from "../../core/telemetry/tracing.ts";
import { limitMetrics } from "../observability/limit-metrics.ts";
import type { PolicyState, RateLimitDecision, RateLimitPolicy } from "../resilience/rate-limiter/object.ts";
import { EXEMPT_PATHS } from "./shed-load.ts";

const READ_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Whom a request is counted against: the authenticated principal (`role:sub`) when there is one,
 * else the client's IP as Cloudflare saw it (CF-Connecting-IP, which a client cannot set through
 * Cloudflare), else one shared "anonymous" bucket (local runs without Cloudflare in front).
 */
export function callerKey(c: Pick<Context<AppEnv>, "var" | "req">): string {
  const principal = c.var.principal;
  if (principal) return `${principal.role}:${principal.sub}`;
  const ip = c.req.header("cf-connecting-ip")?.trim();
  return ip ? `ip:${ip}` : "anonymous";
}

/** The policies this request is held to: everything, and writes on their own when configured. */
function policiesFor(c: Context<AppEnv>): RateLimitPolicy[] {
  const { requests, writeRequests, windowMs } = c.var.config.rateLimit;
  const policies: RateLimitPolicy[] = [];
  if (requests > 0) policies.push({ name: "default", limit: requests, windowMs });
  if (writeRequests > 0 && !READ_METHODS.has(c.req.method)) policies.push({ name: "write", limit: writeRequests, windowMs });
  return policies;
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1_000));

/**
 * The IETF draft's headers (draft-ietf-httpapi-ratelimit-headers): the policies, and where the
 * caller stands (r: remaining, t: seconds until the oldest counted request leaves the window).
 */
function setRateLimitHeaders(res: Response, states: PolicyState[]): void {
  res.headers.set("RateLimit-Policy", states.map((s) => `"${s.name}";q=${s.limit};w=${seconds(s.windowMs)}`).join(", "));
  res.headers.set("RateLimit", states.map((s) => `"${s.name}";r=${s.remaining};t=${seconds(s.resetMs)}`).join(", "));
}

/** Resolves undefined after `ms`; the timer is cleared when `work` settles first. */
async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Asks the caller's RateLimiter object; undefined when it could not answer within
 * RATE_LIMIT_TIMEOUT_MS (or failed): the limiter protects the API, it must not become the thing
 * that takes it down, so the request then goes on unlimited (logged, counted as failed-open). The
 * wait is also bounded by the request's deadline, whose expiry ends the request as everywhere else.
 */
async function decide(c: Context<AppEnv>, policies: RateLimitPolicy[]): Promise<RateLimitDecision | undefined> {
  const hop = c.var.span.child("RateLimiter.take", SpanKind.client, {
    "rpc.system": "cloudflare_durable_object",
    "rpc.service": "RateLimiter",
    "rpc.method": "take",
  });
  const waiting = track("do-wait", "RateLimiter.take");
  try {
    const ns = c.env.RATE_LIMITER;
    const stub = ns.get(ns.idFromName(callerKey(c)));
    const decision = await c.var.deadline.race(within(stub.take(policies), c.var.config.rateLimit.timeoutMs), "request");
    if (!decision) throw new Error(`no answer within RATE_LIMIT_TIMEOUT_MS (${c.var.config.rateLimit.timeoutMs} ms)`);
    hop.setAttribute("ratelimit.allowed", decision.allowed);
    return decision;
  } catch (err) {
    hop.fail(err instanceof Error ? err.name : "error");
    if (err instanceof DeadlineExceededError || err instanceof ClientClosedError) throw err;
    // The key is not logged: it is an IP address or a user id.
    console.error(
      JSON.stringify({
        level: "warn",
        msg: "rate limiter unavailable, request let through",
        requestId: c.var.requestId,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
    return undefined;
  } finally {
    waiting();
    hop.end();
  }
}

/**
 * Per-caller rate limits (RATE_LIMIT_REQUESTS, RATE_LIMIT_WRITE_REQUESTS per RATE_LIMIT_WINDOW_MS),
 * held by one RateLimiter Durable Object per caller. Over the limit: 429 problem with Retry-After
 * and the RateLimit headers; under it, the response carries the RateLimit headers too. Health
 * checks are exempt. Must run after authentication, so callerKey sees the principal.
 */
export function rateLimit(): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    const policies = policiesFor(c);
    if (policies.length === 0 || EXEMPT_PATHS.has(c.req.path)) return next();
    const decision = await decide(c, policies);
    if (!decision) {
      limitMetrics.rateLimit.inc({ outcome: "failed-open" });
      c.var.outcomes.ratelimit = "failed-open";
      return next();
    }
    if (!decision.allowed) {
      limitMetrics.rateLimit.inc({ outcome: "limited" });
      c.var.outcomes.ratelimit = "limited";
      const retryAfter = Math.max(1, seconds(decision.retryAfterMs));
      const res = problemResponse(c, "too-many-requests", `Rate limit exceeded; retry after ${retryAfter} s`);
      res.headers.set("Retry-After", String(retryAfter));
      setRateLimitHeaders(res, decision.policies);
      return res;
    }
    limitMetrics.rateLimit.inc({ outcome: "allowed" });
    await next();
    setRateLimitHeaders(c.res, decision.policies);
  };
}
