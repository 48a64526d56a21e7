import type { Context } from "hono";
import type { InvalidJSONValue, JSONValue } from "hono/utils/types";
import type { Precondition } from "../../core/precondition.ts";
import type { AppEnv } from "../env.ts";
import { PreconditionRequiredError, ValidationError } from "./errors.ts";

/**
 * If-Match and If-None-Match parsing and the ETag of a row version; the If-Match check itself is
 * core/precondition.ts.
 */

/** The strong ETag of a row version. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/**
 * The strong ETag of a representation that has no row version (a doctor's schedule): a digest of
 * its JSON, so equal content always has the same tag.
 */
export async function etagOfContent(body: unknown): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(body)));
  const hex = [...new Uint8Array(digest, 0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `"${hex}"`;
}

const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;

function parseIfMatch(header: string): Precondition {
  const value = header.trim();
  if (value === "*") return { any: true };
  const versions: number[] = [];
  for (const part of value.split(",")) {
    const tag = ENTITY_TAG.exec(part.trim());
    if (!tag) {
      throw new ValidationError([
        { field: "if-match", in: "header", message: 'must be "*" or a list of entity tags such as "3"' },
      ]);
    }
    const opaque = tag[2]!;
    if (!tag[1] && /^[1-9][0-9]{0,9}$/.test(opaque)) versions.push(Number(opaque));
  }
  return { any: false, versions };
}

/** The request's If-Match; undefined when absent. */
export function ifMatchOf(c: Context<AppEnv>): Precondition | undefined {
  const header = c.req.header("if-match");
  return header === undefined ? undefined : parseIfMatch(header);
}

/**
 * True when the request's If-None-Match names `etag` (or is `*`): a GET then answers 304. RFC 9110
 * §13.1.2 compares weakly, so W/"3" matches "3".
 */
export function ifNoneMatchHits(c: Context<AppEnv>, etag: string): boolean {
  const header = c.req.header("if-none-match")?.trim();
  if (header === undefined || header === "") return false;
  if (header === "*") return true;
  const wanted = ENTITY_TAG.exec(etag)?.[2];
  const listed = header.split(",").map((part) => {
    const tag = ENTITY_TAG.exec(part.trim());
    if (!tag) {
      throw new ValidationError([
        { field: "if-none-match", in: "header", message: 'must be "*" or a list of entity tags such as "3"' },
      ]);
    }
    return tag[2];
  });
  return listed.includes(wanted);
}

/**
 * A single-resource GET's answer: 304 with no body when If-None-Match names `etag`, else the body;
 * both carry the ETag.
 */
export function conditionalJson<T extends JSONValue | object | InvalidJSONValue>(
  c: Context<AppEnv>,
  body: T,
  etag: string,
) {
  if (ifNoneMatchHits(c, etag)) return c.body(null, 304, { ETag: etag });
  return c.json(body, 200, { ETag: etag });
}

/** The request's If-Match, which this update requires (428 without it). */
export function requireIfMatch(c: Context<AppEnv>, resource: string): Precondition {
  const precondition = ifMatchOf(c);
  if (!precondition) throw new PreconditionRequiredError(resource);
  return precondition;
}
