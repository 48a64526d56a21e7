/** One `npm run lab` run: what the report draws and the lab test asserts. */
export interface LabRun {
  startedAt: string; // ISO time
  database: string; // "embedded Postgres" or the DATABASE_URL server (no password)
  secondsPerVariant: number;
  timeCompression: string; // how `for:` durations were compressed, one sentence
  incidents: LabIncident[];
}
export interface LabIncident {
  id: string; // one of the ids above
  title: string; // "Connection storm"
  what: string; // one sentence: the failure and the fix
  variants: LabVariant[]; // bad first, then good; upstream-outage has three (no breaker, per-isolate, shared)
  checks: LabCheck[]; // the incident's asserted difference ("reads 1 vs >> 1", ...)
  trace?: LabTrace; // slow-request: the slowest request's trace
}
export interface LabVariant {
  name: string; // "bad: a connection per request"
  kind: "bad" | "good";
  series: LabPoint[]; // sampled about once a second
  alerts: LabAlert[]; // every shipped alert, as Prometheus saw it during this variant
  summary: Record<string, number | string>; // the variant's row in the summary table (requests, req/s, p50, p99, errors by status, ...)
}
/** t: seconds since the variant started; metric: one of the names below (others allowed). */
export interface LabPoint {
  t: number;
  metric: string;
  value: number;
}
// metric names used by the report's charts: "req_per_s", "p50_ms", "p99_ms", "errors_4xx", "errors_5xx",
// "pg_backends", "insurer_calls", "in_flight", "db_reads", "heap_bytes"
export interface LabAlert {
  name: string;
  firedAt: number | null;
  pendingAt: number | null;
} // seconds since variant start
export interface LabCheck {
  name: string;
  passed: boolean;
  detail: string;
}
export interface LabTrace {
  traceId: string;
  slowestSpanId: string; // the span the waterfall points at
  spans: Array<{
    spanId: string;
    parentSpanId?: string;
    name: string;
    startMs: number;
    durationMs: number;
    attributes?: Record<string, string | number | boolean>;
  }>; // startMs relative to the root span
}
