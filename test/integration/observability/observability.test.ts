import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import parsePrometheusTextFormat, { type Family } from "parse-prometheus-text-format";
import { describe, expect, it, vi, onTestFinished } from "vitest";
import { newApp } from "../../../functions/app.ts";
import { ORIGIN, call, expectProblem, json } from "../../helpers/api.ts";
import { asPatient, authHeader, policyWith } from "../../helpers/auth.ts";
import { findPatient } from "../../../db/queries/patients.ts";
import { createPatient, type Patient } from "../../helpers/factories.ts";

async function scrapeText(): Promise<string> {
  const res = await call("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** Parsed strictly: the parser throws on any malformed line. */
async function scrape(): Promise<Family[]> {
  return parsePrometheusTextFormat(await scrapeText());
}

function sample(families: Family[], name: string, labels: Record<string, string>): number {
  const family = families.find((f) => f.name === name);
  const match = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return Number(match?.value ?? match?.count ?? 0);
}

describe("/metrics", () => {
  it("parses as Prometheus text and its request counter moves with requests", async () => {
    const patient = await createPatient();
    const labels = { method: "GET", route: "/patients/:id", status: "200" };
    const before = sample(await scrape(), "http_requests_total", labels);
    for (let i = 0; i < 3; i++) await json(await call(`/patients/${patient.id}`), 200);
    const text = await scrapeText();
    const after = parsePrometheusTextFormat(text);
    expect(sample(after, "http_requests_total", labels) - before).toBe(3);
    expect(after.find((f) => f.name === "http_request_duration_seconds")?.type).toBe("HISTOGRAM");
    // The parser flattens labelled histograms, so the series' _count line is read as text.
    const count =
      /^http_request_duration_seconds_count\{method="GET",route="\/patients\/:id",status="200"\} (\d+)$/m.exec(text);
    expect(Number(count?.[1])).toBeGreaterThanOrEqual(3);
  });

  it("says in its HELP text that a scrape covers one isolate", async () => {
    const help = (await scrape()).find((f) => f.name === "http_requests_total")?.help ?? "";
    expect(help).toContain("this isolate");
  });

  it("counts deadline expiries by stage", async () => {
    const before = sample(await scrape(), "deadline_exceeded_total", { stage: "db" });
    const patient = await createPatient();
    // A 1 ms budget cannot cover a database round trip.
    await expectProblem(await call(`/patients/${patient.id}`, { headers: { "x-request-timeout-ms": "1" } }), 504);
    expect(sample(await scrape(), "deadline_exceeded_total", { stage: "db" }) - before).toBe(1);
  });

  it("answers a scraper holding METRICS_TOKEN, an admin's token, and nobody else", async () => {
    const token = "s3cret-metrics-token-for-the-scraper-0123";
    const guarded = { ...env, METRICS_TOKEN: token };
    const app = newApp();
    const ctx = createExecutionContext();
    const scrape = async (headers: Record<string, string>) =>
      (await app.fetch(new Request(`${ORIGIN}/metrics`, { headers }), guarded, ctx)).status;
    const denied = await app.fetch(new Request(`${ORIGIN}/metrics`), guarded, ctx);
    expect(denied.status).toBe(401);
    expect(denied.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await scrape({ authorization: `Bearer ${token}` })).toBe(200);
    expect(await scrape(await authHeader())).toBe(200);
    expect(await scrape(await authHeader(asPatient(crypto.randomUUID())))).toBe(403);
    expect(await scrape({ authorization: `Bearer ${token.slice(0, -1)}4` })).toBe(401);
    await waitOnExecutionContext(ctx);
  });
});

describe("request logs", () => {
  it("write one JSON line per request with the route template, status and query count", async () => {
    const patient = await createPatient();
    const log = vi.spyOn(console, "log");
    onTestFinished(() => log.mockRestore());
    onTestFinished(() => log.mockRestore());
    const res = await call(`/patients/${patient.id}`, { headers: { "x-request-id": "log-line-test" } });
    expect(res.status).toBe(200);
    const lines = log.mock.calls.map((args) => String(args[0])).filter((l) => l.includes('"log-line-test"'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: "info",
      msg: "request",
      requestId: res.headers.get("x-request-id"),
      clientRequestId: "log-line-test",
      method: "GET",
      route: "/patients/:id",
      status: 200,
      queries: 1,
      durationMs: expect.any(Number) as number,
    });
  });

  it("never contain a patient's name, email, phone or birth date", async () => {
    const log = vi.spyOn(console, "log");
    const error = vi.spyOn(console, "error");
    onTestFinished(() => error.mockRestore());
    const marker = crypto.randomUUID().slice(0, 8);
    const patient: Patient = await createPatient({
      name: `Privacy ${marker}`,
      email: `privacy.${marker}@example.com`,
      phone: `+55 11 9${marker.replace(/\D/g, "").padEnd(8, "7").slice(0, 8)}`,
      birthDate: "1977-07-07",
    });
    await call(`/patients?email=${encodeURIComponent(patient.email)}`);
    await call(`/patients/${patient.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "not-an-email" }),
    });
    await call("/patients", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: patient.name, email: patient.email, birthDate: patient.birthDate }),
    });
    const output = [...log.mock.calls, ...error.mock.calls].map((args) => args.map(String).join(" ")).join("\n");
    expect(output).toContain('"msg":"request"');
    for (const secret of [patient.name, patient.email, patient.phone ?? "", "1977-07-07", marker]) {
      expect(output).not.toContain(secret);
    }
  });
});

describe("the N+1 detector", () => {
  /** The anti-pattern, on purpose: one query per item instead of one query for all of them. */
  async function naiveApp() {
    const patients = await Promise.all(Array.from({ length: 6 }, () => createPatient()));
    const app = newApp({ policy: policyWith({ "GET /naive": { allow: "public" } }) });
    app.get("/naive", async (c) => {
      for (const p of patients) await findPatient(c.var.requestDb, c.var.deadline, p.id);
      return c.json({ ok: true });
    });
    return app;
  }

  async function naiveRequest(overrides: Record<string, string>): Promise<{ status: number; warnings: string[] }> {
    const app = await naiveApp();
    const warn = vi.spyOn(console, "warn");
    onTestFinished(() => warn.mockRestore());
    onTestFinished(() => warn.mockRestore());
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${ORIGIN}/naive`), { ...env, ...overrides }, ctx);
    await res.arrayBuffer();
    await waitOnExecutionContext(ctx);
    const warnings = warn.mock.calls.map((args) => String(args[0])).filter((l) => l.includes("possible N+1"));
    return { status: res.status, warnings };
  }

  it("warns once and counts the route when one SQL shape runs in a loop", async () => {
    const before = sample(await scrape(), "db_n_plus_one_total", { route: "/naive" });
    const { status, warnings } = await naiveRequest({ N_PLUS_ONE_ACTION: "warn" });
    expect(status).toBe(200);
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({
      route: "/naive",
      count: 6,
      sql: expect.stringContaining('from "patients"') as string,
    });
    expect(sample(await scrape(), "db_n_plus_one_total", { route: "/naive" }) - before).toBe(1);
  });

  it("fails the request loudly with N_PLUS_ONE_ACTION=fail, as the test suite runs", async () => {
    expect(env.N_PLUS_ONE_ACTION).toBe("fail");
    const { status, warnings } = await naiveRequest({});
    expect(status).toBe(500);
    expect(warnings).toHaveLength(1);
  });

  it("respects N_PLUS_ONE_THRESHOLD", async () => {
    const { status, warnings } = await naiveRequest({ N_PLUS_ONE_THRESHOLD: "7" });
    expect(status).toBe(200);
    expect(warnings).toEqual([]);
  });

  it("stays silent on the real endpoints, lists included", async () => {
    const patients = await Promise.all(Array.from({ length: 6 }, () => createPatient()));
    const warn = vi.spyOn(console, "warn");
    for (const path of [
      "/doctors?limit=50",
      "/doctors?include=appointments&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&limit=50",
      "/patients?limit=50",
      "/appointments?limit=50",
      ...patients.map((p) => `/patients/${p.id}`),
    ]) {
      expect((await call(path)).status).toBe(200);
    }
    const warnings = warn.mock.calls.filter((args) => String(args[0]).includes("possible N+1"));
    expect(warnings).toEqual([]);
  });
});

describe("breaker metrics", () => {
  it("export the insurer breaker's calls and the state this isolate saw", async () => {
    const patient = await createPatient({ insuranceMemberId: `OBS-${crypto.randomUUID().slice(0, 8)}` });
    const before = sample(await scrape(), "breaker_calls_total", { breaker: "insurance" });
    const res = await call(`/patients/${patient.id}/eligibility`);
    expect(res.status).toBe(200);
    const after = await scrape();
    expect(sample(after, "breaker_calls_total", { breaker: "insurance" }) - before).toBeGreaterThanOrEqual(1);
    expect(sample(after, "breaker_state", { breaker: "insurance", state: "closed" })).toBe(1);
    expect(after.find((f) => f.name === "breaker_transitions_total")?.type).toBe("COUNTER");
  });
});
