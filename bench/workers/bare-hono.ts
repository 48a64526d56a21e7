/**
 * bench/stack.ts' baseline: a bare Hono app with one JSON route, what a Worker costs with a router
 * and nothing of clinic-edge's stack. It runs on the same Miniflare stack as clinic-edge (the same
 * workerd, compatibility settings and bindings), whose wrangler.toml declares the Durable Object
 * classes below: hence the empty stand-ins, which no request reaches.
 */
import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";

const app = new Hono();
app.get("/healthz", (c) => c.json({ status: "ok" }));

export class Coalescer extends DurableObject {}
export class Breaker extends DurableObject {}
export class RateLimiter extends DurableObject {}

export default app;
