import type { MiddlewareHandler } from "hono";
import { inBackground } from "../http/background.ts";
import type { AppEnv } from "../env.ts";
import { SpanKind, Trace } from "../../core/telemetry/tracing.ts";

/**
 * Opens the request's server span (continuing an incoming W3C traceparent, else a new trace subject
 * to OTEL_SAMPLE_RATIO) and exports the trace after the response, in ctx.waitUntil with the
 * background budget. Handlers and clients hang their spans under `c.get("span")`; with tracing off it
 * is NOOP_SPAN and costs nothing.
 *
 * The response carries `traceresponse: 00-<trace id>-<server span id>-01` when the request is traced.
 *
 * The span is named once the route is known (after next()): by its template, never the raw URL,
 * whose path may carry personal data.
 */
export function trace(): MiddlewareHandler<AppEnv> {
  return async function trace(c, next) {
    const { trace, span } = Trace.begin(
      c.get("config").tracing,
      c.req.header("traceparent"),
      "request",
      SpanKind.server,
      {
        "http.request.method": c.req.method,
        "request.id": c.get("requestId"),
      },
    );
    c.set("span", span);
    if (!trace) return next();
    c.set("traceId", trace.traceId);
    try {
      await next();
    } finally {
      const route = c.req.routePath === "*" || c.req.routePath === "/*" ? "unmatched" : c.req.routePath;
      span.setAttribute("http.route", route);
      span.setAttribute("http.response.status_code", c.res.status);
      span.setName(`${c.req.method} ${route}`);
      if (c.res.status >= 500) span.fail(`HTTP ${c.res.status}`);
      for (const [key, value] of Object.entries(c.get("outcomes"))) span.setAttribute(`clinic.${key}`, value);
      // W3C Trace Context level 2: tells the client (and support) which trace holds this request.
      c.header("traceresponse", span.traceparent());
      span.end();
      const send = trace.flush();
      if (send) inBackground(c, "export spans", (deadline) => send(deadline.signal));
    }
  };
}
