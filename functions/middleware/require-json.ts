import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { problemResponse } from "../http/errors.ts";

/** application/json or a JSON-based type (application/merge-patch+json...), with parameters (charset). */
const JSON_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json\s*(?:;.*)?$/i;

/** Whether the request carries a body, without reading it. */
function hasBody(req: Request): boolean {
  if (req.body === null) return false;
  const length = req.headers.get("content-length");
  return length === null || Number(length) > 0;
}

/**
 * Every body this API accepts is JSON: a request that carries one under another media type (or
 * none) gets 415 before anything reads it. @hono/zod-openapi has a similar gate on routes with a
 * body schema, but its 415 names nothing and it lets bodies through on routes without one; this
 * one covers every route and names the header. The header's value is not echoed back.
 */
export function requireJson(): MiddlewareHandler<AppEnv> {
  return async function requireJson(c, next) {
    if (!hasBody(c.req.raw)) return next();
    const type = c.req.header("content-type");
    if (type !== undefined && JSON_TYPE.test(type)) return next();
    return problemResponse(c, "unsupported-media-type", "The body must be JSON (Content-Type: application/json)", [
      {
        field: "content-type",
        in: "header",
        message: type === undefined ? "is missing; send application/json" : "must be application/json",
      },
    ]);
  };
}
