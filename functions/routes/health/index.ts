import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { ApiError } from "../../http/errors.ts";
import { budget } from "../../middleware/deadline.ts";
import { ProblemSchema, commonErrors, jsonResponse, resourceApp } from "../../http/openapi.ts";
import { ClientClosedError, DeadlineExceededError } from "../../../core/deadline.ts";
import { log } from "../../../core/log.ts";

const tags = ["operations"];
const Status = z.object({ status: z.string() }).openapi("Status");

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags,
  operationId: "checkLiveness",
  summary: "Liveness: the Worker answers (touches nothing else)",
  // The middleware every route passes through can refuse it too (a bad X-Request-Timeout-Ms: 400;
  // shedding: 503); the Worker itself can still fail (e.g. invalid configuration): 500.
  responses: { 200: jsonResponse(Status, "Up"), ...commonErrors },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  tags,
  operationId: "checkReadiness",
  summary: "Readiness: the database answers a query",
  description: "Fails within 2 s (its own budget) so a load balancer is not kept waiting.",
  middleware: [budget(2_000)] as const,
  responses: {
    200: jsonResponse(Status, "Ready"),
    ...commonErrors,
    503: { description: "Database unreachable", content: { "application/problem+json": { schema: ProblemSchema } } },
  },
});

/**
 * /readyz is public, and exempt from shedding and rate limits (a probe must see the isolate's real
 * state): its answer is kept per isolate (and configuration) for a second, so a flood of probes
 * costs the database at most one query per isolate per second. Completed answers only: an
 * in-flight query is never shared between requests (workerd ties I/O to the request that began it).
 */
export const READINESS_TTL_MS = 1_000;
const readiness = new WeakMap<object, { ready: boolean; at: number }>();

export const healthApp = resourceApp()
  .openapi(healthz, (c) => c.json({ status: "ok" }, 200))
  .openapi(readyz, async (c) => {
    const known = readiness.get(c.var.config);
    if (known && performance.now() - known.at < READINESS_TTL_MS) {
      c.header("Cache-Status", "clinic-edge; hit");
      if (known.ready) return c.json({ status: "ready" }, 200);
      throw new ApiError("service-unavailable", "The database is not reachable");
    }
    try {
      await c.var.requestDb.query(c.var.deadline, (q) => q.execute(sql`select 1`));
      readiness.set(c.var.config, { ready: true, at: performance.now() });
      return c.json({ status: "ready" }, 200);
    } catch (err) {
      // The caller's own budget or departure says nothing about the database: not kept, or one
      // client asking for a 1 ms budget would take this isolate out of rotation for a second.
      if (!(err instanceof DeadlineExceededError || err instanceof ClientClosedError)) {
        readiness.set(c.var.config, { ready: false, at: performance.now() });
      }
      log.warn("readiness check failed", {
        requestId: c.var.requestId,
        error: err instanceof Error ? err.name : "unknown",
      });
      throw new ApiError("service-unavailable", "The database is not reachable", undefined, { cause: err });
    }
  });
