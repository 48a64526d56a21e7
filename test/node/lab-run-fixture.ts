/**
 * A LabRun shaped like a real `npm run lab` run, made up deterministically: what the report tests
 * render. Three incidents cover the shapes the report draws: two variants, three variants, a trace.
 */
import type { LabAlert, LabIncident, LabPoint, LabRun, LabVariant } from "../../lab/run-format.ts";

const SECONDS = 20;
const ALERTS = ["NPlusOneQueries", "ServerErrors", "SlowRequests", "UpstreamCallsFailing"];

/** Once-a-second samples of each metric, from a function of time (a small deterministic wobble). */
function series(metrics: Record<string, (t: number) => number>): LabPoint[] {
  return Array.from({ length: SECONDS }, (_, t) =>
    Object.entries(metrics).map(([metric, f]) => ({
      metric,
      t,
      value: Math.max(0, f(t) * (1 + 0.05 * Math.sin(t * 7))),
    })),
  ).flat();
}

function alerts(fired: Record<string, [pendingAt: number, firedAt: number | null]>): LabAlert[] {
  return ALERTS.map((name) => ({ name, pendingAt: fired[name]?.[0] ?? null, firedAt: fired[name]?.[1] ?? null }));
}

function variant(
  name: string,
  kind: "bad" | "good",
  metrics: Record<string, (t: number) => number>,
  fired: Record<string, [number, number | null]> = {},
): LabVariant {
  const points = series(metrics);
  const rps = points.filter((p) => p.metric === "req_per_s");
  const requests = Math.round(rps.reduce((sum, p) => sum + p.value, 0));
  const p99 = Math.max(...points.filter((p) => p.metric === "p99_ms").map((p) => p.value), 0);
  return {
    name,
    kind,
    series: points,
    alerts: alerts(fired),
    summary: {
      requests,
      "req/s": requests / SECONDS,
      "p99 ms": p99,
      "5xx": 0,
      note: kind === "bad" ? "switch on" : "default",
    },
  };
}

const nPlusOne: LabIncident = {
  id: "n-plus-one",
  title: "N+1 queries",
  what: "A per-row query loop sends one statement per doctor; one SQL statement with a join answers the same page in one round trip.",
  variants: [
    variant(
      "bad: a query per row",
      "bad",
      {
        req_per_s: () => 120,
        p50_ms: () => 40,
        p99_ms: () => 95,
        db_reads: () => 2_400,
        errors_4xx: () => 0,
        errors_5xx: () => 0,
      },
      { NPlusOneQueries: [2, 4] },
    ),
    variant("good: one statement", "good", {
      req_per_s: () => 410,
      p50_ms: () => 9,
      p99_ms: () => 22,
      db_reads: () => 410,
      errors_4xx: () => 0,
      errors_5xx: () => 0,
    }),
  ],
  checks: [
    { name: "reads per request", passed: true, detail: "bad 20.0, good 1.0" },
    { name: "alerts", passed: true, detail: "NPlusOneQueries fired in the bad run, nothing in the good run" },
  ],
};

const upstream: LabIncident = {
  id: "upstream-outage",
  title: "Upstream outage",
  what: "The insurer goes down: without a breaker every booking calls it; a shared breaker lets a handful of probes through fleet-wide.",
  variants: [
    variant(
      "bad: no breaker",
      "bad",
      { req_per_s: () => 60, p99_ms: () => 2_100, insurer_calls: (t) => 60 * t, in_flight: () => 35 },
      { UpstreamCallsFailing: [3, 5] },
    ),
    variant("good: per-isolate breaker", "good", {
      req_per_s: () => 300,
      p99_ms: () => 30,
      insurer_calls: (t) => Math.min(21, 3 * t),
      in_flight: () => 4,
    }),
    variant("good: shared breaker", "good", {
      req_per_s: () => 310,
      p99_ms: () => 28,
      insurer_calls: (t) => Math.min(11, 2 * t),
      in_flight: () => 4,
    }),
  ],
  checks: [{ name: "calls reaching the dead insurer", passed: true, detail: "1,180 vs 21 vs 11" }],
};

const slow: LabIncident = {
  id: "slow-request",
  title: "Slow request, found by tracing",
  what: "One request in a hundred waits on a slow statement; its trace's waterfall points at the span.",
  variants: [
    variant(
      "bad: a slow statement",
      "bad",
      { req_per_s: () => 80, p50_ms: () => 12, p99_ms: (t) => (t > 3 ? 1_400 : 15) },
      { SlowRequests: [6, 12] },
    ),
    variant("good: the index", "good", { req_per_s: () => 95, p50_ms: () => 11, p99_ms: () => 18 }),
  ],
  checks: [
    { name: "the waterfall's slowest span", passed: false, detail: "db.query appointments, 1,312 ms of 1,380 ms" },
  ],
  trace: {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    slowestSpanId: "s4",
    spans: [
      { spanId: "root", name: "GET /doctors/:id/availability", startMs: 0, durationMs: 1_380 },
      { spanId: "s1", parentSpanId: "root", name: "Coalescer.load", startMs: 2, durationMs: 1_360 },
      {
        spanId: "s2",
        parentSpanId: "s1",
        name: "db.query",
        startMs: 6,
        durationMs: 14,
        attributes: { "db.sql.table": "doctors" },
      },
      {
        spanId: "s3",
        parentSpanId: "s1",
        name: "db.query",
        startMs: 22,
        durationMs: 9,
        attributes: { "db.sql.table": "schedules" },
      },
      {
        spanId: "s4",
        parentSpanId: "s1",
        name: "db.query",
        startMs: 33,
        durationMs: 1_312,
        attributes: { "db.operation": "SELECT", "db.sql.table": "appointments", "db.path": "http" },
      },
      { spanId: "s5", parentSpanId: "root", name: "RateLimiter.take", startMs: 1_364, durationMs: 3 },
    ],
  },
};

/** A fresh copy each call: a test may change its own. */
export function labRunFixture(): LabRun {
  return structuredClone({
    startedAt: "2026-12-06T15:00:00.000Z",
    database: "embedded Postgres",
    secondsPerVariant: SECONDS,
    timeCompression: "Each rule's minutes were read as seconds: for: 1m held for 1 s.",
    incidents: [nPlusOne, upstream, slow],
  });
}
