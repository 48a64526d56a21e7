import { describe, expect, it } from "vitest";
import { NOOP_SPAN, Trace, parseTraceparent, sqlAttributes, SpanKind } from "../../core/telemetry/tracing.ts";

const config = { endpoint: "http://collector.invalid", headers: {}, sampleRatio: 1, serviceName: "test" };

describe("parseTraceparent", () => {
  it("reads a W3C traceparent and its sampled flag", () => {
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toEqual({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      sampled: true,
    });
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled).toBe(false);
  });

  it("ignores what is not one (a new trace starts instead)", () => {
    for (const bad of [
      undefined,
      "",
      "garbage",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
  });
});

describe("sqlAttributes", () => {
  it("takes the operation and tables from parameterised SQL, never a value", () => {
    expect(sqlAttributes('select "id", "name" from "doctors" where "doctors"."id" = $1')).toEqual({
      "db.system": "postgresql",
      "db.operation": "SELECT",
      "db.sql.table": "doctors",
      "db.sql.tables": undefined,
    });
    expect(sqlAttributes('insert into "appointments" ("doctor_id") values ($1) returning "id"')["db.sql.table"]).toBe(
      "appointments",
    );
    expect(sqlAttributes('update "patients" set "name" = $1 where "id" = $2')["db.operation"]).toBe("UPDATE");
    const cte = sqlAttributes(
      "WITH doctor AS (SELECT id FROM doctors WHERE id = $1::uuid) SELECT * FROM doctor JOIN doctor_schedules s ON true",
    );
    expect(cte["db.operation"]).toBe("SELECT");
    expect(cte["db.sql.tables"]).toBe("doctors,doctor,doctor_schedules");
    expect(
      sqlAttributes("WITH x AS (DELETE FROM appointments WHERE id = $1 RETURNING id) SELECT * FROM x")["db.operation"],
    ).toBe("DELETE");
  });

  it("names the SQL function a one-statement write calls, and only then", () => {
    expect(sqlAttributes("SELECT book_appointment($1::uuid, $2::uuid) AS outcome")["db.stored_procedure.name"]).toBe(
      "book_appointment",
    );
    expect(sqlAttributes('select "id" from "doctors" where "id" = $1')["db.stored_procedure.name"]).toBeUndefined();
    expect(sqlAttributes("select count(*) from appointments")["db.stored_procedure.name"]).toBeUndefined();
  });
});

describe("Trace.begin", () => {
  it("records nothing without an endpoint, or when the caller did not sample", () => {
    expect(Trace.begin({ ...config, endpoint: undefined }, undefined, "x", SpanKind.server)).toEqual({
      trace: undefined,
      span: NOOP_SPAN,
    });
    expect(Trace.begin({ ...config, sampleRatio: 0 }, undefined, "x", SpanKind.server).span).toBe(NOOP_SPAN);
    expect(
      Trace.begin(config, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "x", SpanKind.server).span,
    ).toBe(NOOP_SPAN);
  });

  it("continues a sampled traceparent whatever the ratio, with a new span id", () => {
    const { trace, span } = Trace.begin(
      { ...config, sampleRatio: 0 },
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "x",
      SpanKind.server,
    );
    expect(trace?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(span.traceparent()).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$/);
  });
});
