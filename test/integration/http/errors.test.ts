import { describe, expect, it } from "vitest";
import { call, expectProblem } from "../../helpers/api.ts";
import { count } from "../../helpers/db.ts";
import { unique } from "../../helpers/factories.ts";

describe("bad requests are 4xx problem+json and write nothing", () => {
  it("malformed JSON → 400 malformed-request", async () => {
    const problem = await expectProblem(
      await call("/doctors", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"name": "Dr. X",',
      }),
      400,
    );
    expect(problem.type).toBe("https://clinic-edge.dev/problems/malformed-request");
    expect(problem.detail).toMatch(/JSON/);
  });

  it("a JSON body sent as text/plain → 415", async () => {
    const name = unique("Dr. Text");
    await expectProblem(
      await call("/doctors", {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ name, specialty: "x" }),
      }),
      415,
    );
    expect(await count("SELECT 1 FROM doctors WHERE name = $1", [name])).toBe(0);
  });

  it("a body over MAX_BODY_BYTES → 413", async () => {
    const name = "x".repeat(70_000);
    await expectProblem(
      await call("/doctors", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name, specialty: "x" }),
      }),
      413,
    );
  });

  it("a JSON array where an object is expected → 400", async () => {
    await expectProblem(
      await call("/patients", { method: "POST", headers: { "content-type": "application/json" }, body: "[1,2]" }),
      400,
    );
  });

  it("a wrong method on a known path → 404 problem", async () => {
    await expectProblem(await call("/healthz", { method: "DELETE" }), 404);
  });

  it("strings with SQL and unicode are data, not code", async () => {
    const name = `Dr. '); DROP TABLE doctors; -- ☃ ${crypto.randomUUID()}`;
    const res = await call("/doctors", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, specialty: "ñ 漢字 \u0000".replace("\u0000", "") }),
    });
    expect(res.status).toBe(201);
    expect(await count("SELECT 1 FROM doctors WHERE name = $1", [name])).toBe(1);
  });

  it("a NUL byte in text → 400, not a database error", async () => {
    const problem = await expectProblem(
      await call("/doctors", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "Dr. \u0000", specialty: "x" }),
      }),
      400,
    );
    expect(problem.errors?.[0]?.field).toBe("name");
  });
});
