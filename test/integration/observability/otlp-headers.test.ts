import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { ConfigError, loadConfig } from "../../../functions/config/index.ts";
import { parseOtlpHeaders } from "../../../core/telemetry/otlp.ts";
import { workerWith } from "../../helpers/app.ts";

const { endpoint, apiKey } = inject("keyedOtlp");

async function received(): Promise<{ traces: number; metrics: number; refused: number }> {
  return (await fetch(`${endpoint}/v1/received`)).json();
}

describe("OTEL_EXPORTER_OTLP_HEADERS", () => {
  it("is sent with every export, so a backend that requires a key takes the metrics", async () => {
    const before = await received();
    const worker = workerWith({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${encodeURIComponent(apiKey)}`,
      OTEL_METRICS_EXPORT_INTERVAL_MS: "0",
    });

    expect((await worker.fetch("/healthz")).status).toBe(200);

    const after = await received();
    expect(after.metrics).toBeGreaterThan(before.metrics);
    expect(after.refused).toBe(before.refused);
  });

  it("when absent, the backend refuses the export and the request itself is unaffected", async () => {
    const before = await received();
    const worker = workerWith({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_METRICS_EXPORT_INTERVAL_MS: "0" });

    expect((await worker.fetch("/healthz")).status).toBe(200);

    const after = await received();
    expect(after.refused).toBeGreaterThan(before.refused);
    expect(after.metrics).toBe(before.metrics);
  });

  it("is read in the OpenTelemetry form: name=value pairs, percent-encoded values, names case-insensitive", () => {
    expect(parseOtlpHeaders("Authorization=Basic%20dXNlcjprZXk%3D, x-scope-orgid=tenant-1")).toEqual({
      authorization: "Basic dXNlcjprZXk=",
      "x-scope-orgid": "tenant-1",
    });
    expect(parseOtlpHeaders("")).toEqual({});
  });

  it("refuses a malformed value at startup, naming the variable but never its (secret) value", () => {
    let error: unknown;
    try {
      loadConfig({ ...env, OTEL_EXPORTER_OTLP_HEADERS: "not-a-pair-s3cr3t" });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("OTEL_EXPORTER_OTLP_HEADERS");
    expect((error as Error).message).not.toContain("s3cr3t");
  });
});
