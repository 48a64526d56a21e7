import { exports } from "cloudflare:workers";
import { expect } from "vitest";

export const ORIGIN = "http://clinic.test";

/** Calls the Worker under test (its default export) the way a client would. */
export function call(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(ORIGIN + path, init));
}

export function postJson(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return call(path, {
    ...init,
    method: init.method ?? "POST",
    headers: { "content-type": "application/json", ...init.headers },
    body: JSON.stringify(body),
  });
}

/**
 * A PATCH; updates require If-Match, and tests that are not about concurrency send `*` (whatever
 * version is current). Pass an ETag to test the precondition, or null to send none.
 */
export function patchJson(path: string, body: unknown, ifMatch: string | null = "*"): Promise<Response> {
  return postJson(path, body, { method: "PATCH", headers: ifMatch === null ? {} : { "if-match": ifMatch } });
}

/** The body every error answer has (functions/errors.ts defines it for both sides). */
export type { Problem as ProblemBody } from "../../functions/errors.ts";
import type { Problem as ProblemBody } from "../../functions/errors.ts";

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
