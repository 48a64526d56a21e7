import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../functions/config/index.ts";
import { call, expectProblem, fieldsOf, postJson } from "../../helpers/api.ts";
import { workerWith } from "../../helpers/app.ts";
import { count } from "../../helpers/db.ts";
import { createPatient, unique } from "../../helpers/factories.ts";
import { env } from "cloudflare:workers";

/** A body streamed in chunks, so the request has no Content-Length. */
function streamed(text: string, chunk = 8_192): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + chunk));
      offset += chunk;
    },
  });
}

describe("request bodies", () => {
  it("a streamed body without Content-Length over MAX_BODY_BYTES → 413 problem, nothing written", async () => {
    const name = unique("Dr. Stream");
    const req = new Request("http://clinic.test/doctors", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: streamed(JSON.stringify({ name, specialty: "x".repeat(70_000) })),
    });
    expect(req.headers.get("content-length")).toBeNull();
    const problem = await expectProblem(
      await call("/doctors", { method: req.method, headers: req.headers, body: req.body }),
      413,
    );
    expect(problem.type).toBe("https://clinic-edge.dev/problems/payload-too-large");
    expect(await count("SELECT 1 FROM doctors WHERE name = $1", [name])).toBe(0);
  });

  it("a streamed body within MAX_BODY_BYTES is read as usual", async () => {
    const name = unique("Dr. Small Stream");
    const req = new Request("http://clinic.test/doctors", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: streamed(JSON.stringify({ name, specialty: "cardiology" }), 7),
    });
    expect((await call("/doctors", { method: req.method, headers: req.headers, body: req.body })).status).toBe(201);
  });

  it("a body sent as text/plain → 415 naming the content-type header, nothing written", async () => {
    const name = unique("Dr. Plain");
    const problem = await expectProblem(
      await call("/doctors", {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ name, specialty: "x" }),
      }),
      415,
    );
    expect(problem.type).toBe("https://clinic-edge.dev/problems/unsupported-media-type");
    expect(problem.errors).toEqual([{ field: "content-type", in: "header", message: "must be application/json" }]);
    expect(await count("SELECT 1 FROM doctors WHERE name = $1", [name])).toBe(0);
  });

  it("a body without any Content-Type → 415", async () => {
    const body = new TextEncoder().encode(JSON.stringify({ name: unique("Dr. None"), specialty: "x" }));
    const problem = await expectProblem(await call("/doctors", { method: "POST", body }), 415);
    expect(fieldsOf(problem)).toEqual(["content-type"]);
  });

  it("a form-encoded body on a route without a body schema → 415 as well", async () => {
    const problem = await expectProblem(
      await call(`/appointments/${crypto.randomUUID()}/cancel`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "reason=x",
      }),
      415,
    );
    expect(fieldsOf(problem)).toEqual(["content-type"]);
  });

  it("application/json with a charset, and JSON-based types (merge-patch+json), are accepted", async () => {
    const res = await postJson(
      "/doctors",
      { name: unique("Dr. Charset"), specialty: "x" },
      { headers: { "content-type": "application/json; charset=utf-8" } },
    );
    expect(res.status).toBe(201);
    const patient = await createPatient();
    const patched = await call(`/patients/${patient.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json", "if-match": "*" },
      body: JSON.stringify({ phone: "+55 11 90000-0000" }),
    });
    expect(patched.status).toBe(200);
  });

  it("the 415 echoes none of the request's header values", async () => {
    const res = await call("/doctors", { method: "POST", headers: { "content-type": "text/x-s3cr3t" }, body: "{}" });
    expect(res.status).toBe(415);
    expect(await res.text()).not.toContain("s3cr3t");
  });
});

describe("secure headers", () => {
  const expectSecure = (res: Response) => {
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("strict-transport-security")).toBe("max-age=63072000; includeSubDomains");
  };

  it("JSON answers carry them with a CSP that allows nothing, and are not stored", async () => {
    const res = await call("/doctors?limit=1");
    expect(res.status).toBe(200);
    expectSecure(res);
    expect(res.headers.get("content-security-policy")).toBe(
      "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("error answers carry them too", async () => {
    const res = await call("/nowhere");
    await expectProblem(res, 404);
    expectSecure(res);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("personal data (patients) and writes are never stored", async () => {
    const patient = await createPatient();
    expect((await call(`/patients/${patient.id}`)).headers.get("cache-control")).toBe("no-store");
    const created = await postJson("/doctors", { name: unique("Dr. Store"), specialty: "x" });
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
  });

  it("/docs loads its scripts from its own origin only, and its CSP allows nothing else", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expectSecure(res);
    const html = await res.text();
    expect([...html.matchAll(/<script src="([^"]+)">/g)].map((m) => m[1])).toEqual([
      "/docs/assets/api-reference.js",
      "/docs/assets/init.js",
    ]);
    expect(html).not.toMatch(/<script>|https?:\/\//);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/script-src 'self';/);
    expect(csp).toMatch(/connect-src 'self'/);
    expect(res.headers.get("cache-control")).toBeNull();
  });
});

describe("CORS", () => {
  const APP = "https://app.clinic.test";
  const preflight = (origin: string) => ({
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
  });

  it("answers an allowed origin's preflight with 204 and what it may send, cached for CORS_MAX_AGE_SECONDS", async () => {
    const worker = workerWith({
      CORS_ALLOWED_ORIGINS: `${APP}, https://admin.clinic.test`,
      CORS_ALLOW_CREDENTIALS: "true",
      CORS_MAX_AGE_SECONDS: "300",
    });
    const res = await worker.fetch("/doctors", preflight(APP));
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("content-type");
    expect(res.headers.get("access-control-max-age")).toBe("300");
    expect(res.headers.get("vary")).toContain("Origin");
  });

  it("gives a disallowed origin no Access-Control-Allow-Origin", async () => {
    const worker = workerWith({ CORS_ALLOWED_ORIGINS: APP });
    const res = await worker.fetch("/doctors", preflight("https://evil.test"));
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const get = await worker.fetch("/doctors?limit=1", { headers: { origin: "https://evil.test" } });
    expect(get.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("lets an allowed origin read Retry-After, Server-Timing, X-Request-Id, Location, ETag", async () => {
    const worker = workerWith({ CORS_ALLOWED_ORIGINS: APP });
    const res = await worker.fetch("/doctors?limit=1", { headers: { origin: APP } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    const exposed = res.headers.get("access-control-expose-headers")?.split(",") ?? [];
    expect(exposed).toEqual(
      expect.arrayContaining(["Retry-After", "Server-Timing", "X-Request-Id", "Location", "ETag"]),
    );
  });

  it("sends no CORS header at all when CORS_ALLOWED_ORIGINS is empty", async () => {
    const res = await call("/doctors?limit=1", { headers: { origin: APP } });
    expect([...res.headers.keys()].filter((h) => h.startsWith("access-control-"))).toEqual([]);
  });

  it('refuses "*" with credentials in the configuration', () => {
    expect(() => loadConfig({ ...env, CORS_ALLOWED_ORIGINS: "*", CORS_ALLOW_CREDENTIALS: "true" })).toThrow(
      /CORS_ALLOWED_ORIGINS/,
    );
    expect(() => loadConfig({ ...env, CORS_ALLOWED_ORIGINS: "https://app.clinic.test/path" })).toThrow(
      /CORS_ALLOWED_ORIGINS/,
    );
    expect(loadConfig({ ...env, CORS_ALLOWED_ORIGINS: "*" }).cors.allowedOrigins).toEqual(["*"]);
  });
});
