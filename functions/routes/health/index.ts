import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { ApiError } from "../../http/errors.ts";
import { budget } from "../../middleware/deadline.ts";
import { ProblemSchema, commonErrors, jsonResponse, resourceApp } from "../../http/openapi.ts";
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

export const healthApp = resourceApp()
  .openapi(healthz, (c) => c.json({ status: "ok" }, 200))
  .openapi(readyz, async (c) => {
    try {
      await c.var.requestDb.query(c.var.deadline, (q) => q.execute(sql`select 1`));
      return c.json({ status: "ready" }, 200);
    } catch (err) {
      log.warn("readiness check failed", {
        requestId: c.var.requestId,
        error: err instanceof Error ? err.name : "unknown",
      });
      throw new ApiError("service-unavailable", "The database is not reachable", undefined, { cause: err });
    }
  });
