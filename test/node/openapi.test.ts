/**
 * The published contract: /openapi.json is a valid OpenAPI 3.1 document that lists every route the
 * Worker serves, with JSON bodies, typed success answers and problem+json errors.
 *
 * The Worker is loaded in Node (functions/ is typed for workerd, so it is imported through a
 * non-literal specifier and seen only through the small interface below). /openapi.json touches no
 * database: the URL only has to be well-formed.
 */
import { validate, compileErrors } from "@readme/openapi-parser";
import { fileURLToPath } from "node:url";
import { unstable_readConfig } from "wrangler";
import { beforeAll, describe, expect, test } from "vitest";

interface WorkerApp {
  request(path: string, init: RequestInit, env: Record<string, string>): Response | Promise<Response>;
  /** Hono's registered handlers (middleware included, as method "ALL"). */
  routes: ReadonlyArray<{ method: string; path: string }>;
}
interface AppModule {
  newApp(): WorkerApp;
}

interface MediaType {
  schema?: object;
}
interface Operation {
  operationId?: string;
  requestBody?: { required?: boolean; content?: Record<string, MediaType> };
  responses?: Record<string, { content?: Record<string, MediaType> }>;
}
type PathItem = Partial<Record<string, Operation>>;
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, PathItem>;
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const APP_MODULE = new URL("../../functions/app.ts", import.meta.url).href;
const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** What the API promises to serve, as "METHOD /path" in OpenAPI's path syntax. */
const EXPECTED_OPERATIONS = [
  "GET /healthz",
  "GET /readyz",
  "GET /metrics",
  "GET /debug/inflight",
  "POST /doctors",
  "GET /doctors",
  "GET /doctors/{id}",
  "PATCH /doctors/{id}",
  "POST /doctors/{id}/deactivate",
  "GET /doctors/{id}/schedule",
  "PUT /doctors/{id}/schedule",
  "GET /doctors/{id}/availability",
  "POST /patients",
  "GET /patients",
  "GET /patients/{id}",
  "PATCH /patients/{id}",
  "GET /patients/{id}/eligibility",
  "POST /appointments",
  "GET /appointments",
  "GET /appointments/{id}",
  "PATCH /appointments/{id}",
  "POST /appointments/{id}/cancel",
  "POST /appointments/{id}/complete",
  "GET /appointments/{id}/history",
].sort();

/** The operations that take a request body (the rest take only path and query parameters). */
const OPERATIONS_WITH_BODY = [
  "POST /doctors",
  "PATCH /doctors/{id}",
  "PUT /doctors/{id}/schedule",
  "POST /patients",
  "PATCH /patients/{id}",
  "POST /appointments",
  "PATCH /appointments/{id}",
].sort();

/** Routes that serve the documentation itself rather than the API. */
const DOCUMENTATION_ROUTES = new Set(["GET /openapi.json", "GET /docs"]);

function operations(doc: OpenApiDocument): Array<[string, Operation]> {
  const found: Array<[string, Operation]> = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (operation) found.push([`${method.toUpperCase()} ${path}`, operation]);
    }
  }
  return found;
}

/** wrangler.toml's [vars], read by wrangler itself (its declared types do not resolve: checked here). */
function wranglerVars(): Record<string, string> {
  const config: unknown = unstable_readConfig({ config: `${ROOT}/wrangler.toml` });
  const vars = typeof config === "object" && config !== null && "vars" in config ? config.vars : undefined;
  if (typeof vars !== "object" || vars === null) throw new Error("wrangler.toml has no [vars]");
  const strings: Record<string, string> = {};
  for (const [name, value] of Object.entries(vars)) {
    if (typeof value !== "string") throw new Error(`wrangler.toml [vars] ${name} is not a string`);
    strings[name] = value;
  }
  if (Object.keys(strings).length === 0) throw new Error("wrangler.toml [vars] is empty");
  return strings;
}

/** Hono's "/doctors/:id" as OpenAPI's "/doctors/{id}". */
const openApiPath = (honoPath: string): string => honoPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");

describe("OpenAPI document", () => {
  let app: WorkerApp;
  let doc: OpenApiDocument;
  let response: Response;

  beforeAll(async () => {
    const env: Record<string, string> = { DATABASE_URL: "postgres://u@127.0.0.1:1/x", ...wranglerVars() };
    const module = (await import(APP_MODULE)) as AppModule;
    app = module.newApp();
    response = await app.request("/openapi.json", {}, env);
    doc = (await response.clone().json()) as OpenApiDocument;
    // Importing the whole Worker (transformed on the fly) takes seconds on a busy 2-core CI box.
  }, 60_000);

  test("is served as JSON from /openapi.json", () => {
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json\b/);
  });

  test("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    // validate() dereferences in place: give it its own copy.
    const result = await validate(structuredClone(doc) as Parameters<typeof validate>[0]);
    expect(result.valid, result.valid ? "" : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  test("lists exactly the operations the API promises", () => {
    expect(
      operations(doc)
        .map(([name]) => name)
        .sort(),
    ).toEqual(EXPECTED_OPERATIONS);
  });

  test("lists every route the app serves", () => {
    const served = new Set(
      app.routes
        .filter((r) => r.method !== "ALL")
        .map((r) => `${r.method} ${openApiPath(r.path)}`)
        .filter((name) => !DOCUMENTATION_ROUTES.has(name)),
    );
    expect([...served].sort()).toEqual(EXPECTED_OPERATIONS);
  });

  test("gives every operation with a body a required JSON request schema", () => {
    const withBody = operations(doc).filter(([, op]) => op.requestBody !== undefined);
    expect(withBody.map(([name]) => name).sort()).toEqual(OPERATIONS_WITH_BODY);
    for (const [name, op] of withBody) {
      expect(op.requestBody?.required, name).toBe(true);
      expect(Object.keys(op.requestBody?.content ?? {}), name).toEqual(["application/json"]);
      expect(op.requestBody?.content?.["application/json"]?.schema, name).toBeTypeOf("object");
    }
  });

  /** Operations whose success is not JSON: Prometheus' text exposition format. */
  const TEXT_OPERATIONS = new Set(["GET /metrics"]);

  test("declares a 2xx response with a schema for every operation (JSON but for /metrics)", () => {
    for (const [name, op] of operations(doc)) {
      const success = Object.entries(op.responses ?? {}).filter(([status]) => /^2\d\d$/.test(status));
      expect(success.length, `${name} has no 2xx response`).toBeGreaterThan(0);
      const mediaType = TEXT_OPERATIONS.has(name) ? "text/plain" : "application/json";
      for (const [status, answer] of success) {
        expect(answer.content?.[mediaType]?.schema, `${name} ${status}`).toBeTypeOf("object");
      }
    }
  });

  test("declares problem+json error responses for every operation", () => {
    for (const [name, op] of operations(doc)) {
      const errors = Object.entries(op.responses ?? {}).filter(([status]) => /^[45]\d\d$/.test(status));
      expect(errors.length, `${name} declares no error response`).toBeGreaterThan(0);
      for (const [status, answer] of errors) {
        expect(Object.keys(answer.content ?? {}), `${name} ${status}`).toEqual(["application/problem+json"]);
        expect(answer.content?.["application/problem+json"]?.schema, `${name} ${status}`).toBeTypeOf("object");
      }
    }
  });
});
