import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../env.ts";
import { problemResponse } from "../http/errors.ts";

/** hono/body-limit's middleware per size, built once rather than on every request. */
const limits = new Map<number, MiddlewareHandler<AppEnv>>();

function limitOf(maxSize: number): MiddlewareHandler<AppEnv> {
  let limit = limits.get(maxSize);
  if (!limit) {
    limit = bodyLimit({
      maxSize,
      onError: (c: Context<AppEnv>) => problemResponse(c, "payload-too-large", `The body exceeds ${maxSize} bytes`),
    });
    limits.set(maxSize, limit);
  }
  return limit;
}

/** 413 for a body over MAX_BODY_BYTES, declared or streamed (hono/body-limit counts the bytes read). */
export function limitBody(): MiddlewareHandler<AppEnv> {
  return async function limitBody(c, next) {
    // No body, nothing to count (GET, HEAD, and most DELETEs).
    if (c.req.raw.body === null) return next();
    return limitOf(c.get("config").maxBodyBytes)(c, next);
  };
}
