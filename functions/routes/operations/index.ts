import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../../http/errors.ts";
import { ProblemSchema, commonErrors, resourceApp } from "../../http/openapi.ts";
import { countsByKind, inflight } from "../../../core/inflight.ts";
import { registry } from "../../observability/metrics.ts";

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["operations"],
  operationId: "getMetrics",
  summary: "Prometheus metrics of the isolate that answers",
  description:
    "Text exposition format. Each Worker isolate keeps its own counters: one scrape covers one isolate " +
    "since it started, not the fleet (docs/operations.md says how to get fleet-wide numbers). Needs an admin token, or " +
    "`Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set (for scrapers; checked by the auth layer).",
  responses: {
    200: { description: "Metrics", content: { "text/plain": { schema: z.string() } } },
    ...commonErrors,
  },
});

// Who may scrape is the access policy's business (functions/auth/policy.ts): admins, or METRICS_TOKEN.
export const metricsApp = resourceApp().openapi(metricsRoute, (c) => {
  return c.text(registry.render(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
});

const InflightSchema = z
  .object({
    counts: z.record(z.string(), z.number().int()),
    items: z.array(z.object({ kind: z.string(), label: z.string(), ageMs: z.number() })),
  })
  .openapi("Inflight");

const inflightRoute = createRoute({
  method: "get",
  path: "/debug/inflight",
  tags: ["operations"],
  operationId: "getInflight",
  summary: "What this isolate has started and not finished (pprof's goroutine page)",
  description:
    "Requests, database connections, upstream calls, Durable Object waits (Coalescer, breaker hops) and waitUntil tasks in flight, " +
    'oldest first, with their age. Admins only, and served only when DEBUG_ENDPOINTS is "true" (404 otherwise).',
  responses: {
    200: { description: "In flight now", content: { "application/json": { schema: InflightSchema } } },
    ...commonErrors,
    404: { description: "Debug endpoints are off", content: { "application/problem+json": { schema: ProblemSchema } } },
  },
});

export const debugApp = resourceApp().openapi(inflightRoute, (c) => {
  if (!c.var.config.debugEndpoints) throw new ApiError("not-found", "No route for GET /debug/inflight");
  const now = Date.now();
  return c.json(
    {
      counts: countsByKind(),
      items: inflight().map((i) => ({ kind: i.kind, label: i.label, ageMs: now - i.startedAt })),
    },
    200,
  );
});
