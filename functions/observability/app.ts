import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../errors.ts";
import { ProblemSchema, resourceApp } from "../openapi.ts";
import { registry } from "./metrics.ts";

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["operations"],
  summary: "Prometheus metrics of the isolate that answers",
  description:
    "Text exposition format. Each Worker isolate keeps its own counters: one scrape covers one isolate " +
    "since it started, not the fleet (see the README for fleet-wide numbers). With METRICS_TOKEN set, " +
    "requires `Authorization: Bearer <METRICS_TOKEN>`.",
  responses: {
    200: { description: "Metrics", content: { "text/plain": { schema: z.string() } } },
    401: { description: "Missing or wrong metrics token", content: { "application/problem+json": { schema: ProblemSchema } } },
  },
});

export const metricsApp = resourceApp().openapi(metricsRoute, (c) => {
  const token = c.env.METRICS_TOKEN;
  if (token && c.req.header("authorization") !== `Bearer ${token}`) {
    c.header("WWW-Authenticate", 'Bearer realm="metrics"');
    throw new ApiError("unauthorized", "A valid metrics token is required");
  }
  return c.text(registry.render(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
});
