import type { MiddlewareHandler } from "hono";
import { inBackground } from "../http/background.ts";
import type { AppEnv } from "../env.ts";
import { problemResponse } from "../http/errors.ts";
import { track } from "../../core/inflight.ts";
import { metrics, registry, requestLabels } from "../observability/metrics.ts";
import { metricsPush } from "../../core/telemetry/metrics-export.ts";
import { NO_LABELS } from "../../core/telemetry/registry.ts";
import { log } from "../../core/log.ts";
import { logRequest } from "../observability/request-log.ts";

/**
 * One SQL shape run `threshold` times in one request looks like a query in a loop (the N+1
 * pattern) rather than a deliberate few: every endpoint is built to send one shape once. Returns
 * whether it fired; it warns once per shape and counts the route.
 */
function detectNPlusOne(
  db: AppEnv["Variables"]["requestDb"],
  threshold: number,
  route: string,
  requestId: string,
): boolean {
  const repeated = db.repeatedShapes(threshold);
  if (repeated.length === 0) return false;
  metrics.nPlusOne.inc({ route });
  for (const { sql, count } of repeated) {
    // The SQL is parameterised: its text carries no values, so no personal data.
    log.warn("possible N+1: one SQL shape ran many times in one request", {
      requestId,
      route,
      count,
      sql: sql.slice(0, 300),
    });
  }
  return true;
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
    metrics.inFlight.add(NO_LABELS, 1);
    const done = track("request", `${c.req.method} ${c.req.path}`);
    try {
      await next();
    } finally {
      done();
      metrics.inFlight.add(NO_LABELS, -1);
      const seconds = (performance.now() - started) / 1_000;
      // After next(), routePath names the handler that answered; "*" means no route matched.
      const route = c.req.routePath === "*" || c.req.routePath === "/*" ? "unmatched" : c.req.routePath;
      const db = c.get("requestDb") as AppEnv["Variables"]["requestDb"] | undefined;
      const stats = db?.used ? db.stats : undefined;
      // Unset only when the configuration itself failed to load (that request is a 500 already).
      const config = c.get("config") as AppEnv["Variables"]["config"] | undefined;
      const nPlusOne = config?.nPlusOne;
      if (
        db &&
        stats &&
        nPlusOne &&
        detectNPlusOne(db, nPlusOne.threshold, route, c.get("requestId")) &&
        nPlusOne.action === "fail"
      ) {
        // Tests run with N_PLUS_ONE_ACTION=fail, so a query loop cannot pass unnoticed.
        c.res = problemResponse(c, "internal-error", `N+1 query pattern in ${route} (N_PLUS_ONE_ACTION=fail)`);
      }
      const labels = requestLabels(c.req.method, route, c.res.status);
      metrics.requests.inc(labels);
      metrics.duration.observe(labels, seconds);

      if (stats) {
        metrics.queriesPerRequest.observe(NO_LABELS, stats.queries);
        metrics.dbConnectionsOpened.inc(NO_LABELS, stats.connectionsOpened);
        metrics.dbConnectSeconds.inc(NO_LABELS, stats.connectMs / 1_000);
        metrics.dbWaits.inc(NO_LABELS, stats.waits);
        metrics.dbWaitSeconds.inc(NO_LABELS, stats.waitMs / 1_000);
        metrics.dbHttpRoundTrips.inc(NO_LABELS, stats.httpRoundTrips);
        metrics.dbRoundTrips.observe({ method: c.req.method, route }, stats.roundTrips);
        metrics.dbPeakConnections.observe(NO_LABELS, stats.peakConnections);
      }
      // Fleet-wide numbers: this isolate's totals, this request included, pushed over OTLP when due.
      const push = config && metricsPush(config.metrics, () => registry.collect());
      if (push) inBackground(c, "export metrics", (deadline) => push(deadline.signal));
      logRequest({
        requestId: c.get("requestId"),
        clientRequestId: c.get("clientRequestId"),
        traceId: c.get("traceId"),
        method: c.req.method,
        route,
        status: c.res.status,
        durationMs: Math.round(seconds * 10_000) / 10,
        queries: stats?.queries ?? 0,
        outcomes: c.get("outcomes"),
      });
    }
  };
}
