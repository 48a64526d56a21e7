import { describe, expect, it } from "vitest";
import { call, expectProblem } from "../../helpers/api.ts";
import { dbTimingOf } from "../../helpers/server-timing.ts";

describe("operations endpoints", () => {
  it("GET /healthz answers 200 without touching the database", async () => {
    const res = await call("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
    expect(res.headers.get("server-timing")).toBeNull();
  });

  it("GET /readyz answers 200 when a query reaches Postgres", async () => {
    const res = await call("/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ready" });
  });

  it("GET /readyz keeps its answer for a second: a flood of probes costs at most one query per isolate", async () => {
    const first = await call("/readyz");
    expect(first.status).toBe(200);
    const again = await call("/readyz");
    expect(again.status).toBe(200);
    expect(again.headers.get("cache-status")).toBe("clinic-edge; hit");
    expect(dbTimingOf(again)?.queries ?? 0).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const later = await call("/readyz");
    expect(later.headers.get("cache-status")).toBeNull();
    expect(dbTimingOf(later)?.queries).toBe(1);
  });

  it("GET /openapi.json is an OpenAPI 3.1 document", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = await res.json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/doctors/{id}");
  });

  it("GET /docs serves the interactive API reference for /openapi.json", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toContain("/openapi.json");
  });

  it("an unknown route is a 404 problem", async () => {
    const body = await expectProblem(await call("/nope"), 404);
    expect(body.detail).toContain("/nope");
  });

  it("answers a request id of its own, whatever X-Request-Id the client sent", async () => {
    const res = await call("/healthz", { headers: { "x-request-id": "abc-123" } });
    const id = res.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(id).not.toBe("abc-123");
    expect((await call("/healthz")).headers.get("x-request-id")).not.toBe(id);
  });
});
