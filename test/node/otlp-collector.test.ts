/**
 * The local collector's fleet view (dev/otlp-collector.ts, dev/fleet-metrics.ts): what a backend
 * does with the isolates' OTLP metric pushes. Two synthetic isolates, each a registry of its own
 * encoded by the Worker's own encoder (core/telemetry/metrics-export.ts), pushed over HTTP.
 */
import parsePrometheusTextFormat, { type Family } from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCollector, type RunningCollector } from "../../dev/otlp-collector.ts";
import { toOtlpMetrics } from "../../core/telemetry/metrics-export.ts";
import { Counter, Gauge, Histogram, Registry } from "../../core/telemetry/registry.ts";

const ROUTE = { method: "GET", route: "/patients/:id", status: "200" };

/** One isolate: its registry and its identity, as the Worker keeps them. */
function isolate(instanceId: string) {
  const registry = new Registry();
  return {
    requests: registry.register(new Counter("http_requests_total", "Requests")),
    duration: registry.register(new Histogram("http_request_duration_seconds", "Latency", [0.1, 1])),
    inFlight: registry.register(new Gauge("http_requests_in_flight", "In flight")),
    async push(collector: RunningCollector, at: number): Promise<void> {
      const body = toOtlpMetrics("clinic-edge", registry.collect(), { instanceId, startTimeUnixNano: "1000000" });
      // A fixed time per push, so "latest" is decided by the points' own times.
      for (const rm of body.resourceMetrics) {
        for (const m of rm.scopeMetrics[0]!.metrics) {
          const points = "sum" in m ? m.sum.dataPoints : "gauge" in m ? m.gauge.dataPoints : m.histogram.dataPoints;
          for (const p of points) p.timeUnixNano = `${at}000000`;
        }
      }
      const res = await fetch(`${collector.url}/v1/metrics`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
    },
  };
}

async function fleet(collector: RunningCollector): Promise<{ text: string; families: Family[] }> {
  const res = await fetch(`${collector.url}/metrics`);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, families: parsePrometheusTextFormat(text) };
}

function value(families: Family[], name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((f) => f.name === name);
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

describe("the collector's fleet view", () => {
  let collector: RunningCollector;
  beforeAll(async () => {
    collector = await startCollector();
  });
  afterAll(() => collector.close());

  it("sums two instances' counters and histograms, keeps each instance's latest cumulative point, and lists gauges per instance", async () => {
    const a = isolate("instance-a");
    const b = isolate("instance-b");
    a.requests.inc(ROUTE, 3);
    a.duration.observe(ROUTE, 0.05);
    a.duration.observe(ROUTE, 0.5);
    a.inFlight.set({}, 2);
    await a.push(collector, 1_000);
    // A's total moves on: its next (cumulative) push replaces the first, it does not add to it.
    a.requests.inc(ROUTE, 2);
    await a.push(collector, 2_000);
    b.requests.inc(ROUTE, 4);
    b.duration.observe(ROUTE, 5);
    b.inFlight.set({}, 1);
    await b.push(collector, 1_500);

    const { text, families } = await fleet(collector);
    expect(value(families, "otlp_fleet_instances")).toBe(2);
    expect(value(families, "http_requests_total", ROUTE)).toBe(5 + 4);
    expect(families.find((f) => f.name === "http_requests_total")?.type).toBe("COUNTER");

    // Histograms: per-bucket counts added, rendered back as cumulative le buckets.
    const series = 'http_request_duration_seconds_bucket{method="GET",route="/patients/:id",status="200",le=';
    expect(text).toContain(`${series}"0.1"} 1\n`);
    expect(text).toContain(`${series}"1"} 2\n`);
    expect(text).toContain(`${series}"+Inf"} 3\n`);
    expect(text).toMatch(
      /^http_request_duration_seconds_count\{method="GET",route="\/patients\/:id",status="200"\} 3$/m,
    );
    expect(text).toMatch(
      /^http_request_duration_seconds_sum\{method="GET",route="\/patients\/:id",status="200"\} 5\.55$/m,
    );

    // Gauges are not added up: each instance's last value, labelled with its id.
    expect(value(families, "http_requests_in_flight", { service_instance_id: "instance-a" })).toBe(2);
    expect(value(families, "http_requests_in_flight", { service_instance_id: "instance-b" })).toBe(1);
  });

  it("ignores a point older than the one it keeps (a late retry of an earlier push)", async () => {
    const c = isolate("instance-c");
    c.requests.inc({ route: "late" }, 7);
    await c.push(collector, 5_000);
    c.requests.inc({ route: "late" }, -6);
    await c.push(collector, 4_000);
    expect(value((await fleet(collector)).families, "http_requests_total", { route: "late" })).toBe(7);
  });

  it("reports per instance how many exports arrived and the latest as sent", async () => {
    const d = isolate("instance-d");
    d.requests.inc({ route: "x" });
    await d.push(collector, 1);
    await d.push(collector, 2);
    const res = await fetch(`${collector.url}/v1/metrics/instance?id=instance-d`);
    const body = (await res.json()) as { exports: number; latest: { resourceMetrics: unknown[] } };
    expect(body.exports).toBe(2);
    expect(body.latest.resourceMetrics).toHaveLength(1);
    expect(await (await fetch(`${collector.url}/v1/metrics/instance?id=nobody`)).json()).toEqual({ exports: 0 });
  });
});
