import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { metrics } from "../observability/metrics.ts";

/**
 * How many times one SQL shape may run in one request before it looks like a query in a loop
 * (the N+1 pattern) rather than a deliberate few. Every endpoint is built to send one shape once.
 */
export const N_PLUS_ONE_THRESHOLD = 5;

function detectNPlusOne(db: AppEnv["Variables"]["requestDb"], route: string, requestId: string): void {
  const repeated = db.repeatedShapes(N_PLUS_ONE_THRESHOLD);
  if (repeated.length === 0) return;
  metrics.nPlusOne.inc({ route });
  for (const { sql, count } of repeated) {
    // The SQL is parameterised: its text carries no values, so no personal data.
    console.warn(JSON.stringify({ level: "warn", msg: "possible N+1: one SQL shape ran many times in one request", requestId, route, count, sql: sql.slice(0, 300) }));
  }
}

/**
 * Records every request in /metrics (count and latency by route template, method and status; the
 * database cost) and writes one structured log line for it. Labels and logs use the route template
 * (`/patients/:id`), never the raw URL, whose path or query may carry personal data (an email).
 */
export function observe(): MiddlewareHandler<AppEnv> {
  return async function observe(c, next) {
    const started = performance.now();
    c.set("outcomes", {});
    metrics.inFlight.add({}, 1);
    try {
      await next();
    } finally {
      metrics.inFlight.add({}, -1);
      const seconds = (performance.now() - started) / 1_000;
      // After next(), routePath names the handler that answered; "*" means no route matched.
      const route = c.req.routePath === "*" || c.req.routePath === "/*" ? "unmatched" : c.req.routePath;
      const labels = { method: c.req.method, route, status: String(c.res.status) };
      metrics.requests.inc(labels);
      metrics.duration.observe(labels, seconds);

      const db = c.var.requestDb as AppEnv["Variables"]["requestDb"] | undefined;
      const stats = db?.used ? db.stats : undefined;
      if (db && stats) {
        metrics.queriesPerRequest.observe({}, stats.queries);
        metrics.dbConnectionsOpened.inc({}, stats.connectionsOpened);
        metrics.dbConnectSeconds.inc({}, stats.connectMs / 1_000);
        metrics.dbWaits.inc({}, stats.waits);
        metrics.dbWaitSeconds.inc({}, stats.waitMs / 1_000);
        metrics.dbHttpRoundTrips.inc({}, stats.httpRoundTrips);
        metrics.dbPeakConnections.observe({}, stats.peakConnections);
        detectNPlusOne(db, route, c.var.requestId);
      }
      console.log(
        JSON.stringify({
          level: "info",
          msg: "request",
          requestId: c.var.requestId,
          traceId: c.var.traceId,
          method: c.req.method,
          route,
          status: c.res.status,
          durationMs: Math.round(seconds * 10_000) / 10,
          queries: stats?.queries ?? 0,
          ...c.var.outcomes,
        }),
      );
    }
  };
}
