import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../env.ts";
import { problemResponse } from "../http/errors.ts";

/** 413 for a body over MAX_BODY_BYTES, declared or streamed (hono/body-limit counts the bytes read). */
export function limitBody(): MiddlewareHandler<AppEnv> {
  return async function limitBody(c, next) {
    const maxSize = c.var.config.maxBodyBytes;
    const limit = bodyLimit({
      maxSize,
      onError: () => problemResponse(c, "payload-too-large", `The body exceeds ${maxSize} bytes`),
    });
    return limit(c, next);
  };
}
