/**
 * bench/stack.ts' third baseline: the bare Hono app of ./bare-hono-log.ts that also sends
 * clinic-edge's security headers (the same middleware): what clinic-edge writes on every answer of
 * a trivial route, with none of its other work. The stack against this is what the rest of the
 * middleware (request ids, config, CORS, shedding, tracing, deadline, authentication, limits,
 * authorization, body checks, metrics) costs a request.
 */
import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";
import type { AppEnv } from "../../functions/env.ts";
import { securityHeaders } from "../../functions/middleware/security-headers.ts";
import { logLine } from "./bare-hono-log.ts";

const app = new Hono<AppEnv>();
app.use(logLine);
app.use(securityHeaders());
app.get("/healthz", (c) => c.json({ status: "ok" }));

export class Coalescer extends DurableObject {}
export class Breaker extends DurableObject {}
export class RateLimiter extends DurableObject {}

export default app;
