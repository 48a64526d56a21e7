/**
 * If-Match on its own: parsing (functions/http/preconditions.ts) through a one-route Hono app with
 * the Worker's real onError, and the check it feeds (core/precondition.ts).
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { satisfies, type Precondition } from "../../core/precondition.ts";
import type { AppEnv } from "../../functions/env.ts";
import { onError, type Problem } from "../../functions/http/errors.ts";
import {
  conditionalJson,
  etagOf,
  etagOfContent,
  ifMatchOf,
  requireIfMatch,
} from "../../functions/http/preconditions.ts";

const app = new Hono<AppEnv>();
app.onError(onError);
app.get("/if-match", (c) => c.json({ precondition: ifMatchOf(c) ?? null }));
app.get("/required", (c) => c.json({ precondition: requireIfMatch(c, "patient") }));
app.get("/conditional", (c) => conditionalJson(c, { id: 1 }, etagOf(3)));

/** What ifMatchOf makes of an If-Match header (null: no header). */
async function parsed(ifMatch?: string): Promise<Precondition | null> {
  const res = await app.request("/if-match", { headers: ifMatch === undefined ? {} : { "if-match": ifMatch } });
  expect(res.status).toBe(200);
  const body: { precondition: Precondition | null } = await res.json();
  return body.precondition;
}

describe("ifMatchOf", () => {
  it("reads * as any current version", async () => {
    expect(await parsed("*")).toEqual({ any: true });
    expect(await parsed("  *  ")).toEqual({ any: true });
  });

  it("reads one strong tag as that version", async () => {
    expect(await parsed('"3"')).toEqual({ any: false, versions: [3] });
  });

  it("reads a list of strong tags, whitespace around the commas allowed", async () => {
    expect(await parsed('"1","2" ,  "17"')).toEqual({ any: false, versions: [1, 2, 17] });
  });

  it("accepts weak tags and tags that are not ours, but none of them names a version", async () => {
    expect(await parsed('W/"3"')).toEqual({ any: false, versions: [] });
    expect(await parsed('"abc", "0", "007", W/"4"')).toEqual({ any: false, versions: [] });
    // A version followed by anything else is someone else's tag, not that version.
    expect(await parsed('"3x", "12345678901"')).toEqual({ any: false, versions: [] });
    expect(await parsed('W/"3", "5"')).toEqual({ any: false, versions: [5] });
  });

  it("is undefined without the header", async () => {
    expect(await parsed()).toBeNull();
  });

  it("answers a malformed header with a 400 naming the if-match header field", async () => {
    for (const bad of ["3", '"3', "W/3", '*, "3"', '"3" "4"', 'w/"3"']) {
      const res = await app.request("/if-match", { headers: { "if-match": bad } });
      expect(res.status, bad).toBe(400);
      const problem: Problem = await res.json();
      expect(problem.type, bad).toMatch(/validation-error$/);
      expect(problem.errors, bad).toEqual([expect.objectContaining({ field: "if-match", in: "header" })]);
    }
  });
});

describe("requireIfMatch", () => {
  it("answers 428 naming if-match when the header is missing", async () => {
    const res = await app.request("/required");
    expect(res.status).toBe(428);
    const problem: Problem = await res.json();
    expect(problem.type).toMatch(/precondition-required$/);
    expect(problem.detail).toContain("patient");
    expect(problem.errors).toEqual([expect.objectContaining({ field: "if-match", in: "header" })]);
  });

  it("returns the parsed precondition when the header is there", async () => {
    const res = await app.request("/required", { headers: { "if-match": etagOf(12) } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ precondition: { any: false, versions: [12] } });
  });
});

describe("satisfies", () => {
  it("holds without a precondition, and for * whatever the version", () => {
    expect(satisfies(undefined, 1)).toBe(true);
    expect(satisfies({ any: true }, 1)).toBe(true);
    expect(satisfies({ any: true }, 99)).toBe(true);
  });

  it("holds only for a listed version", () => {
    const listed: Precondition = { any: false, versions: [2, 5] };
    expect(satisfies(listed, 2)).toBe(true);
    expect(satisfies(listed, 5)).toBe(true);
    expect(satisfies(listed, 3)).toBe(false);
    expect(satisfies({ any: false, versions: [] }, 3)).toBe(false);
  });

  it("is satisfied by the ETag a row's version is served with, and by no other version", async () => {
    const precondition = await parsed(etagOf(7));
    expect(precondition).not.toBeNull();
    expect(satisfies(precondition ?? undefined, 7)).toBe(true);
    expect(satisfies(precondition ?? undefined, 8)).toBe(false);
  });
});

describe("conditionalJson (If-None-Match)", () => {
  const get = (ifNoneMatch?: string) =>
    app.request("/conditional", { headers: ifNoneMatch === undefined ? {} : { "if-none-match": ifNoneMatch } });

  it("answers 200 with the body and the ETag without If-None-Match, or with an empty one", async () => {
    for (const header of [undefined, "", "  "]) {
      const res = await get(header);
      expect(res.status).toBe(200);
      expect(res.headers.get("etag")).toBe('"3"');
      expect(await res.json()).toEqual({ id: 1 });
    }
  });

  it("answers 304 with the ETag and no body when the list names the current tag, compared weakly", async () => {
    for (const header of ['"3"', 'W/"3"', '"1", "3"', ' "2" ,W/"3" ', "*", " * "]) {
      const res = await get(header);
      expect(res.status, header).toBe(304);
      expect(res.headers.get("etag")).toBe('"3"');
      expect(await res.text()).toBe("");
    }
  });

  it("answers 200 when the list names other tags only", async () => {
    for (const header of ['"2"', 'W/"30"', '"33"', '"1", "2"']) expect((await get(header)).status, header).toBe(200);
  });

  it("refuses a malformed header with 400 naming if-none-match", async () => {
    for (const header of ["3", '"3', '"3", 4', "W/3", '"3 "']) {
      const res = await get(header);
      expect(res.status, header).toBe(400);
      const problem: Problem = await res.json();
      expect(problem.errors).toEqual([expect.objectContaining({ field: "if-none-match", in: "header" })]);
    }
  });
});

describe("etagOfContent", () => {
  it("is a strong tag of 24 hex digits, the same for equal content and different for other content", async () => {
    const tag = await etagOfContent({ days: [1, 2] });
    expect(tag).toMatch(/^"[0-9a-f]{24}"$/);
    expect(await etagOfContent({ days: [1, 2] })).toBe(tag);
    expect(await etagOfContent({ days: [2, 1] })).not.toBe(tag);
  });
});
