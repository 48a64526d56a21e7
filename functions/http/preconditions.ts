import type { Context } from "hono";
import type { Precondition } from "../../core/precondition.ts";
import type { AppEnv } from "../env.ts";
import { PreconditionRequiredError, ValidationError } from "./errors.ts";

/** If-Match parsing and the ETag of a row version; the check itself is core/precondition.ts. */

/** The strong ETag of a row version. */
export function etagOf(version: number): string {
  return `"${version}"`;
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

/** The request's If-Match, which this update requires (428 without it). */
export function requireIfMatch(c: Context<AppEnv>, resource: string): Precondition {
  const precondition = ifMatchOf(c);
  if (!precondition) throw new PreconditionRequiredError(resource);
  return precondition;
}
