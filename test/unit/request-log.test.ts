import { describe, expect, it, vi } from "vitest";
import { log } from "../../core/log.ts";
import { logRequest, type RequestRecord } from "../../functions/observability/request-log.ts";

/** What one call writes to console.log. */
function written(write: () => void): string {
  const spy = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    write();
    return spy.mock.calls.map((args) => args.join(" ")).join("\n");
  } finally {
    spy.mockRestore();
  }
}

const record: RequestRecord = {
  requestId: "0b4a4a4e-54b7-4a8f-9df0-6d3c1f6f2a11",
  clientRequestId: "client:42",
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  method: "GET",
  route: "/patients/:id",
  status: 200,
  durationMs: 12.3,
  queries: 1,
  outcomes: { auth: "admin", coalescer: "hit" },
};

/** The line as the general logger writes it: what the request line must stay equal to. */
function generalLine(r: RequestRecord): string {
  const { outcomes, ...fields } = r;
  return written(() => log.info("request", { ...fields, ...outcomes }));
}

describe("the request log line", () => {
  it("is the general logger's JSON line for the same fields", () => {
    expect(written(() => logRequest(record))).toBe(generalLine(record));
  });

  it("leaves out the ids a request does not have", () => {
    const r = { ...record, clientRequestId: undefined, traceId: undefined, outcomes: {} };
    const line = written(() => logRequest(r));
    expect(line).toBe(generalLine(r));
    expect(JSON.parse(line)).not.toHaveProperty("traceId");
  });

  it("escapes what a client chose (an odd method) so the line stays one JSON object", () => {
    const r = { ...record, method: 'GE"T\n', clientRequestId: 'a"b\\c', outcomes: { auth: 'x"y' } };
    const line = written(() => logRequest(r));
    expect(line).toBe(generalLine(r));
    expect(JSON.parse(line)).toMatchObject({ method: 'GE"T\n', clientRequestId: 'a"b\\c', auth: 'x"y' });
  });

  it("redacts an outcome under a redacted name, as the general logger does", () => {
    const r = { ...record, outcomes: { token: "secret-value" } };
    const line = written(() => logRequest(r));
    expect(line).toBe(generalLine(r));
    expect(line).not.toContain("secret-value");
  });

  it("writes a duration that is not a number as null", () => {
    const r = { ...record, durationMs: Number.NaN };
    expect(written(() => logRequest(r))).toBe(generalLine(r));
  });
});
