/**
 * bench/stack.ts' second baseline: the bare Hono app of ./bare-hono.ts that also writes clinic-edge's
 * request log line (the same function, the same fields: a fresh request id, the route, the status,
 * the duration, `auth`), so the bench shows what the line alone costs a trivial route: a service
 * that must log each request cannot go below it.
 */
import { DurableObject } from "cloudflare:workers";
import { Hono, type MiddlewareHandler } from "hono";
import { logRequest } from "../../functions/observability/request-log.ts";

/** The request log line with a fresh request id, as clinic-edge writes it. */
export const logLine: MiddlewareHandler = async (c, next) => {
  const started = performance.now();
  const requestId = crypto.randomUUID();
  await next();
  logRequest({
    requestId,
    clientRequestId: undefined,
    traceId: undefined,
    method: c.req.method,
    route: c.req.routePath,
    status: c.res.status,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    queries: 0,
    outcomes: { auth: "anonymous" },
  });
};

const app = new Hono();
app.use(logLine);
app.get("/healthz", (c) => c.json({ status: "ok" }));

export class Coalescer extends DurableObject {}
export class Breaker extends DurableObject {}
export class RateLimiter extends DurableObject {}

export default app;
