import { addressKey } from "./address.ts";
import type { Context } from "hono";
import { ClientClosedError, DeadlineExceededError } from "../../../core/deadline.ts";
import { track } from "../../../core/inflight.ts";
import { SpanKind } from "../../../core/telemetry/tracing.ts";
import type { AppEnv } from "../../env.ts";
import type { RateLimitDecision, RateLimitPolicy } from "./object.ts";
import { errorText, log } from "../../../core/log.ts";
import { sendRetryingOnce } from "../durable-object-retry.ts";

/**
 * Whom a request is counted against: the authenticated principal (`role:sub`) when there is one,
 * else the client's IP as Cloudflare saw it (CF-Connecting-IP, which a client cannot set through
 * Cloudflare), else one shared "anonymous" bucket (local runs without Cloudflare in front).
 */
export function callerKey(c: Pick<Context<AppEnv>, "get" | "req">): string {
  const principal = c.get("principal");
  if (principal) return `${principal.role}:${principal.sub}`;
  const ip = c.req.header("cf-connecting-ip")?.trim();
  return ip ? addressKey(ip) : "anonymous";
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
 * Asks the caller's RateLimiter object for `want` admissions (this request's, and a lease's:
 * ./lease.ts); undefined when it could not answer within
 * RATE_LIMIT_TIMEOUT_MS (or failed): the limiter protects the API, it must not become the thing
 * that takes it down, so the request then goes on unlimited (logged, counted as failed-open). The
 * wait is also bounded by the request's deadline, whose expiry ends the request as everywhere else.
 */
export async function askLimiter(
  c: Context<AppEnv>,
  policies: RateLimitPolicy[],
  want = 1,
): Promise<RateLimitDecision | undefined> {
  const hop = c.get("span").child("RateLimiter.take", SpanKind.client, {
    "rpc.system": "cloudflare_durable_object",
    "rpc.service": "RateLimiter",
    "rpc.method": "take",
  });
  const waiting = track("do-wait", "RateLimiter.take");
  try {
    const ns = c.env.RATE_LIMITER;
    const deadline = c.get("deadline");
    const timeoutMs = c.get("config").rateLimit.timeoutMs;
    const id = ns.idFromName(callerKey(c));
    // A reset object (a deploy) lost its counts with its memory: asking the new one counts nothing twice.
    const decision = await sendRetryingOnce(deadline, "RateLimiter", "take", () =>
      deadline.race(within(ns.get(id).take(policies, want), timeoutMs), "request"),
    );
    if (!decision) throw new Error(`no answer within RATE_LIMIT_TIMEOUT_MS (${timeoutMs} ms)`);
    hop.setAttribute("ratelimit.allowed", decision.allowed);
    return decision;
  } catch (err) {
    hop.fail(err instanceof Error ? err.name : "error");
    if (err instanceof DeadlineExceededError || err instanceof ClientClosedError) throw err;
    // The key is not logged: it is an IP address or a user id.
    log.warn("rate limiter unavailable, request let through", {
      requestId: c.get("requestId"),
      error: errorText(err),
    });
    return undefined;
  } finally {
    waiting();
    hop.end();
  }
}
