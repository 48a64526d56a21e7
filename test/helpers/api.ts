import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { ADMIN, authHeader, type Caller } from "./auth.ts";

export const ORIGIN = "http://clinic.test";

export interface CallInit extends RequestInit {
  /** Who calls: an admin unless said otherwise; "anonymous" sends no token. An explicit Authorization header wins. */
  as?: Caller;
}

/** Calls the Worker under test (its default export) the way a client would, with a bearer token for `init.as`. */
export async function call(path: string, init: CallInit = {}): Promise<Response> {
  const { as = ADMIN, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (!headers.has("authorization")) {
    for (const [k, v] of Object.entries(await authHeader(as))) headers.set(k, v);
  }
  return exports.default.fetch(new Request(ORIGIN + path, { ...rest, headers }));
}

export function postJson(path: string, body: unknown, init: CallInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("content-type", headers.get("content-type") ?? "application/json");
  return call(path, { ...init, method: init.method ?? "POST", headers, body: JSON.stringify(body) });
}

/**
 * A PATCH; updates require If-Match, and tests that are not about concurrency send `*` (whatever
 * version is current). Pass an ETag to test the precondition, or null to send none.
 */
export function patchJson(
  path: string,
  body: unknown,
  ifMatch: string | null = "*",
  init: CallInit = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (ifMatch !== null) headers.set("if-match", ifMatch);
  return postJson(path, body, { ...init, method: "PATCH", headers });
}

/** The body every error answer has (functions/http/errors.ts defines it for both sides). */
export type { Problem as ProblemBody } from "../../functions/http/errors.ts";
import type { Problem as ProblemBody } from "../../functions/http/errors.ts";

/** Asserts an RFC 9457 answer with the given status; returns its body. */
export async function expectProblem(res: Response, status: number): Promise<ProblemBody> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = await res.json<ProblemBody>();
  expect(body.status).toBe(status);
  expect(body.type).toMatch(/^https:\/\/clinic-edge\.dev\/problems\//);
  expect(body.requestId).toBe(res.headers.get("x-request-id"));
  return body;
}

/** The `field` names a validation problem lists. */
export function fieldsOf(problem: ProblemBody): string[] {
  return (problem.errors ?? []).map((e) => e.field);
}

export async function json<T>(res: Response, status: number): Promise<T> {
  if (res.status !== status) expect.fail(`expected ${status}, got ${res.status}: ${await res.text()}`);
  return res.json<T>();
}

/** Statements the request sent, as reported by the Server-Timing header. */
export function queriesOf(res: Response): number | undefined {
  const m = /db;desc="queries=(\d+)"/.exec(res.headers.get("server-timing") ?? "");
  return m ? Number(m[1]) : undefined;
}
