import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { call, json, postJson } from "../../helpers/api.ts";
import { createPatient, doctorWithSchedule, slot, type BookedAppointment } from "../../helpers/factories.ts";
import { memberId, standInStats, withOwnBreaker } from "../../helpers/insurance.ts";
import { settle } from "../../helpers/wait.ts";
import type { ReceivedSpan } from "../../../dev/otlp-collector.ts";
import { EXPORT_DELAY_MS } from "../../../core/telemetry/span-export.ts";

/**
 * Traces as they arrive at an OTLP/HTTP collector (dev/otlp-collector.ts, started by
 * test/global-setup.ts): the Worker and both Durable Objects export to it. The test config samples
 * no new trace (OTEL_SAMPLE_RATIO=0), so only requests sent here with a sampled traceparent, or
 * through an env with the ratio at 1, are recorded.
 */

const SERVER = 2;
const CLIENT = 3;

function hex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function spansOf(traceId: string): Promise<ReceivedSpan[]> {
  const res = await fetch(`${inject("otlpEndpoint")}/spans?traceId=${traceId}`);
  return res.json<ReceivedSpan[]>();
}

/** Waits until the trace holds spans matching every predicate (the objects export on their own time). */
async function trace(traceId: string, ...wanted: Array<(spans: ReceivedSpan[]) => boolean>): Promise<ReceivedSpan[]> {
  return settle(
    () => spansOf(traceId),
    (spans) => wanted.every((w) => w(spans)),
    5_000,
  );
}

function one(spans: ReceivedSpan[], predicate: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(predicate);
  if (found.length !== 1)
    expect.fail(`expected one ${what}, found ${found.length} in ${JSON.stringify(spans.map((s) => s.name))}`);
  return found[0]!;
}

/** Every attribute value of every span, as text: none may contain a value the request carried. */
function expectNoneContain(spans: ReceivedSpan[], secrets: string[]): void {
  const values = spans.flatMap((s) => Object.values(s.attributes).map(String));
  for (const secret of secrets) {
    expect(
      values.filter((v) => v.includes(secret)),
      `an attribute contains ${secret}`,
    ).toEqual([]);
  }
}

describe("tracing", () => {
  it("a coalesced read on a cold key is one trace, continued from the incoming traceparent: server → DO hop → object → SQL", async () => {
    const doctor = await doctorWithSchedule();
    const date = slot(3).startsAt.slice(0, 10);
    const traceId = hex(16);
    const callerSpanId = hex(8);

    const res = await call(`/doctors/${doctor.id}/availability?date=${date}`, {
      headers: { traceparent: `00-${traceId}-${callerSpanId}-01` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("server-timing")).toContain('coalescer;desc="load"');
    expect(res.headers.get("traceresponse")).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    const spans = await trace(
      traceId,
      (s) => s.some((x) => x.kind === SERVER && x.parentSpanId === callerSpanId),
      (s) => s.some((x) => x.name === "db.query" && String(x.attributes["db.sql.tables"]).includes("doctor_schedules")),
    );
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));

    const server = one(spans, (s) => s.parentSpanId === callerSpanId, "server span");
    expect(server).toMatchObject({
      kind: SERVER,
      name: "GET /doctors/:id/availability",
      service: "clinic-edge",
      attributes: {
        "http.request.method": "GET",
        "http.route": "/doctors/:id/availability",
        "http.response.status_code": 200,
        "request.id": res.headers.get("x-request-id"),
        "clinic.coalescer": "load",
      },
    });
    expect(res.headers.get("traceresponse")).toBe(`00-${traceId}-${server.spanId}-01`);

    const hop = one(spans, (s) => s.parentSpanId === server.spanId && s.name === "Coalescer.load", "hop span");
    expect(hop).toMatchObject({
      kind: CLIENT,
      attributes: { "rpc.service": "Coalescer", "coalescer.outcome": "load" },
    });

    const inObject = one(spans, (s) => s.parentSpanId === hop.spanId, "span inside the Coalescer");
    expect(inObject).toMatchObject({
      kind: SERVER,
      name: "Coalescer.load",
      attributes: { "coalescer.outcome": "load" },
    });

    const load = one(spans, (s) => s.parentSpanId === inObject.spanId, "load span");
    expect(load.name).toBe("coalescer.run-load");
    const sql = spans.filter((s) => s.parentSpanId === load.spanId);
    expect(sql.length).toBeGreaterThan(0);
    for (const s of sql) {
      expect(s).toMatchObject({
        kind: CLIENT,
        name: "db.query",
        attributes: { "db.system": "postgresql", "db.operation": "SELECT" },
      });
    }
    expect(sql.map((s) => String(s.attributes["db.sql.tables"])).join(",")).toContain("doctor_schedules");
    // The Worker itself sent no SQL: the object loaded.
    expect(spans.filter((s) => s.name === "db.query" && s.parentSpanId === server.spanId)).toEqual([]);

    // Start and end are ordered along the chain.
    expect(BigInt(server.startTimeUnixNano)).toBeLessThanOrEqual(BigInt(hop.startTimeUnixNano));
    expect(BigInt(hop.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(server.endTimeUnixNano));

    expectNoneContain(spans, [doctor.id, date]);
  });

  it("a booking of an insured patient is one new trace: server → breaker hop → object, upstream call carrying traceparent, SQL", async () => {
    const doctor = await doctorWithSchedule();
    const member = memberId("OK");
    const patient = await createPatient({ insuranceMemberId: member });
    const when = slot(5);
    // Its own breaker: this isolate's view is fresh, so the booking asks the object (a traced hop).
    const worker = withOwnBreaker({ OTEL_SAMPLE_RATIO: "1" });

    const res = await worker.fetch("/appointments", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ doctorId: doctor.id, patientId: patient.id, ...when }),
    });
    const booked = await json<BookedAppointment>(res, 201);
    expect(booked.eligibility).toBe("covered");
    const [, traceId, serverSpanId] =
      /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(res.headers.get("traceresponse") ?? "") ?? [];
    expect(traceId).toBeDefined();

    const spans = await trace(
      traceId!,
      (s) => s.some((x) => x.spanId === serverSpanId),
      (s) => s.some((x) => x.name === "Breaker.sync" && x.kind === SERVER),
    );
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));

    const server = one(spans, (s) => s.spanId === serverSpanId, "server span");
    expect(server).toMatchObject({
      kind: SERVER,
      name: "POST /appointments",
      attributes: { "http.route": "/appointments", "http.response.status_code": 201 },
    });
    expect(server.parentSpanId).toBeUndefined();
    expect(server.attributes[`breaker.${worker.name}.state`]).toBe("closed");

    const hop = one(spans, (s) => s.parentSpanId === server.spanId && s.name === "Breaker.sync", "breaker hop");
    expect(hop.kind).toBe(CLIENT);
    const inObject = one(spans, (s) => s.parentSpanId === hop.spanId, "span inside the Breaker");
    expect(inObject).toMatchObject({ kind: SERVER, name: "Breaker.sync", attributes: { "breaker.state": "closed" } });

    const upstream = one(spans, (s) => s.name === "POST /v1/eligibility", "upstream span");
    expect(upstream).toMatchObject({
      kind: CLIENT,
      parentSpanId: server.spanId,
      attributes: { "http.request.method": "POST", "http.response.status_code": 200 },
    });
    // What reached the insurer's stand-in: the upstream span's own context.
    expect((await standInStats(member)).lastTraceparent).toBe(`00-${traceId}-${upstream.spanId}-01`);

    // The booking drops the doctor's cached availability: a hop to the Coalescer too.
    expect(one(spans, (s) => s.name === "Coalescer.invalidate", "invalidation hop")).toMatchObject({
      kind: CLIENT,
      parentSpanId: server.spanId,
    });

    const sql = spans.filter((s) => s.name === "db.query");
    expect(sql.length).toBeGreaterThan(0);
    for (const s of sql) expect(s.parentSpanId).toBe(server.spanId);
    // The booking is one statement, a call of the function that writes it (drizzle/0007).
    expect(sql.some((s) => s.attributes["db.stored_procedure.name"] === "book_appointment")).toBe(true);

    expectNoneContain(spans, [doctor.id, patient.id, member, patient.email, when.startsAt, when.startsAt.slice(0, 10)]);
  });

  it("a breaker report handed to the background is a span of the request's trace too, with the object's span under it", async () => {
    const patient = await createPatient({ insuranceMemberId: memberId("FLAKY") });
    // FLAKY fails once, then the retry succeeds: a failure report inside the request, then the
    // first success after a failure, reported in the background.
    const worker = withOwnBreaker({ OTEL_SAMPLE_RATIO: "1", INSURANCE_MAX_ATTEMPTS: "2" });
    const res = await worker.fetch(`/patients/${patient.id}/eligibility`);
    expect(res.status).toBe(200);
    const [, traceId, serverSpanId] =
      /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(res.headers.get("traceresponse") ?? "") ?? [];

    const isReport = (ok: boolean) => (x: ReceivedSpan) =>
      x.name === "Breaker.report" && x.kind === CLIENT && x.attributes["breaker.report.ok"] === ok;
    const spans = await trace(
      traceId!,
      (s) => s.some((x) => x.spanId === serverSpanId),
      (s) => s.some(isReport(true)),
      (s) => s.filter((x) => x.name === "Breaker.report" && x.kind === SERVER).length === 2,
    );
    const failure = one(spans, isReport(false), "failure report hop");
    const success = one(spans, isReport(true), "background success report hop");
    for (const hop of [failure, success]) {
      expect(hop).toMatchObject({
        parentSpanId: serverSpanId,
        attributes: { "rpc.service": "Breaker", "breaker.name": worker.name },
      });
      expect(one(spans, (s) => s.parentSpanId === hop.spanId, "span inside the Breaker")).toMatchObject({
        kind: SERVER,
        name: "Breaker.report",
      });
    }
    expect(success.attributes["breaker.background"]).toBe(true);
    expectNoneContain(spans, [patient.id]);
  });

  it("records nothing for a traceparent whose sampled flag is off, nor for a new trace at ratio 0", async () => {
    const traceId = hex(16);
    const unsampled = await call("/doctors?limit=1", { headers: { traceparent: `00-${traceId}-${hex(8)}-00` } });
    expect(unsampled.status).toBe(200);
    expect(unsampled.headers.get("traceresponse")).toBeNull();
    const fresh = await call("/doctors?limit=1");
    expect(fresh.headers.get("traceresponse")).toBeNull();
    // Give a (wrong) export time to land before looking: spans wait EXPORT_DELAY_MS for company.
    await new Promise((resolve) => setTimeout(resolve, EXPORT_DELAY_MS + 300));
    expect(await spansOf(traceId)).toEqual([]);
  });

  it("exports nothing and adds no header when OTEL_EXPORTER_OTLP_ENDPOINT is empty", async () => {
    const worker = withOwnBreaker({ OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_SAMPLE_RATIO: "1" });
    const traceId = hex(16);
    const res = await worker.fetch("/doctors?limit=1", { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("traceresponse")).toBeNull();
    expect(await spansOf(traceId)).toEqual([]);
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).not.toBe("");
  });

  it("continues a traceparent on a write too: one server span, its SQL under it", async () => {
    const traceId = hex(16);
    const parent = hex(8);
    const res = await postJson(
      "/doctors",
      { name: "Dr. Trace", specialty: "cardiology" },
      { headers: { traceparent: `00-${traceId}-${parent}-01` } },
    );
    expect(res.status).toBe(201);
    const spans = await trace(traceId, (s) => s.some((x) => x.name === "db.query"));
    const server = one(spans, (s) => s.parentSpanId === parent, "server span");
    expect(server.name).toBe("POST /doctors");
    const insert = one(spans, (s) => s.name === "db.query", "SQL span");
    expect(insert).toMatchObject({
      parentSpanId: server.spanId,
      attributes: { "db.operation": "INSERT", "db.sql.table": "doctors" },
    });
    expectNoneContain(spans, ["Dr. Trace", "cardiology"]);
  });
});
