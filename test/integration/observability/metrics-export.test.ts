import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { newApp } from "../../../functions/app.ts";
import { authHeader } from "../../helpers/auth.ts";
import { isolateIdentity } from "../../../core/telemetry/metrics-export.ts";
import { ORIGIN, json } from "../../helpers/api.ts";
import { createPatient } from "../../helpers/factories.ts";
import type { EnvOverrides } from "../../helpers/insurance.ts";

/**
 * Fleet-wide metrics as they arrive at the OTLP collector the tests run (dev/otlp-collector.ts):
 * this isolate's registry pushed as OTLP/HTTP JSON, read back from the collector exactly as sent.
 * This test file has its isolate to itself (one file at a time per workerd process), so the
 * isolate's series move only with the requests made here.
 */

interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: string; doubleValue?: number };
}
interface NumberPoint {
  attributes: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano: string;
  asDouble: number;
}
interface HistogramPoint {
  attributes: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  count: string;
  sum: number;
  bucketCounts: string[];
  explicitBounds: number[];
}
interface Metric {
  name: string;
  description: string;
  sum?: { aggregationTemporality: number; isMonotonic: boolean; dataPoints: NumberPoint[] };
  gauge?: { dataPoints: NumberPoint[] };
  histogram?: { aggregationTemporality: number; dataPoints: HistogramPoint[] };
}
interface ExportRequest {
  resourceMetrics: Array<{ resource: { attributes: KeyValue[] }; scopeMetrics: Array<{ metrics: Metric[] }> }>;
}

const CUMULATIVE = 2;
const ROUTE = { method: "GET", route: "/patients/:id", status: "200" };

const app = newApp();

/** One request through the Worker with these variables, waiting for its post-response work (the push). */
async function send(overrides: EnvOverrides, path: string): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(ORIGIN + path, { headers: await authHeader() }),
    { ...env, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/** What the collector received from this isolate: how many pushes, and the latest as sent. */
async function received(): Promise<{ exports: number; latest?: ExportRequest }> {
  const res = await fetch(`${inject("otlpEndpoint")}/v1/metrics/instance?id=${isolateIdentity().instanceId}`);
  return res.json();
}

function metric(request: ExportRequest | undefined, name: string): Metric {
  const found = request?.resourceMetrics[0]?.scopeMetrics[0]?.metrics.find((m) => m.name === name);
  if (!found) expect.fail(`no ${name} in the export`);
  return found;
}

function labelled<P extends { attributes: KeyValue[] }>(points: P[], labels: Record<string, string>): P | undefined {
  return points.find((p) =>
    Object.entries(labels).every(([k, v]) => p.attributes.some((a) => a.key === k && a.value.stringValue === v)),
  );
}

const EVERY_REQUEST: EnvOverrides = { OTEL_METRICS_EXPORT_INTERVAL_MS: "0" };

describe("OTLP metrics export", () => {
  it("pushes the request counter and latency histogram of a route, moved by exactly the requests sent, as cumulative OTLP points of this isolate", async () => {
    const patient = await createPatient();
    // The collector's view of this isolate before: one push brings it up to date.
    await json(await send(EVERY_REQUEST, `/patients/${patient.id}`), 200);
    const before = (await received()).latest;
    const requestsBefore = labelled(metric(before, "http_requests_total").sum!.dataPoints, ROUTE)!.asDouble;
    const latencyBefore = Number(
      labelled(metric(before, "http_request_duration_seconds").histogram!.dataPoints, ROUTE)!.count,
    );

    for (let i = 0; i < 4; i++) await json(await send(EVERY_REQUEST, `/patients/${patient.id}`), 200);
    const { latest } = await received();

    expect(latest?.resourceMetrics[0]?.resource.attributes).toEqual(
      expect.arrayContaining([
        { key: "service.name", value: { stringValue: "clinic-edge" } },
        { key: "service.instance.id", value: { stringValue: isolateIdentity().instanceId } },
      ]),
    );

    const requests = metric(latest, "http_requests_total");
    expect(requests.sum).toMatchObject({ aggregationTemporality: CUMULATIVE, isMonotonic: true });
    const point = labelled(requests.sum!.dataPoints, ROUTE)!;
    expect(point.asDouble - requestsBefore).toBe(4);
    expect(BigInt(point.startTimeUnixNano!)).toBeLessThanOrEqual(BigInt(point.timeUnixNano));
    expect(requests.description).toContain("this isolate");

    const latency = metric(latest, "http_request_duration_seconds");
    expect(latency.histogram?.aggregationTemporality).toBe(CUMULATIVE);
    const series = labelled(latency.histogram!.dataPoints, ROUTE)!;
    expect(Number(series.count) - latencyBefore).toBe(4);
    expect(series.bucketCounts).toHaveLength(series.explicitBounds.length + 1);
    expect(series.bucketCounts.reduce((total, n) => total + Number(n), 0)).toBe(Number(series.count));
    // The histogram and the counter count the same requests.
    expect(Number(series.count)).toBe(point.asDouble);

    expect(metric(latest, "http_requests_in_flight").gauge?.dataPoints).toHaveLength(1);
  });

  it("pushes at most once per OTEL_METRICS_EXPORT_INTERVAL_MS", async () => {
    await send(EVERY_REQUEST, "/healthz");
    const { exports } = await received();
    for (let i = 0; i < 3; i++) await send({ OTEL_METRICS_EXPORT_INTERVAL_MS: "60000" }, "/healthz");
    expect((await received()).exports).toBe(exports);
    await send(EVERY_REQUEST, "/healthz");
    expect((await received()).exports).toBe(exports + 1);
  });

  it("sends nothing when OTEL_EXPORTER_OTLP_ENDPOINT is empty", async () => {
    const { exports } = await received();
    for (let i = 0; i < 3; i++) await send({ ...EVERY_REQUEST, OTEL_EXPORTER_OTLP_ENDPOINT: "" }, "/healthz");
    expect((await received()).exports).toBe(exports);
    // The same requests with the endpoint set do arrive, so the silence above is the setting's.
    await send(EVERY_REQUEST, "/healthz");
    expect((await received()).exports).toBe(exports + 1);
  });
});
