import type { MiddlewareHandler } from "hono";
import { loadConfig } from "../config/index.ts";
import type { AppEnv } from "../env.ts";

/** Puts the parsed configuration on the context (parsed once per env object, then cached). */
export function requestConfig(): MiddlewareHandler<AppEnv> {
  return async function requestConfig(c, next) {
    c.set("config", loadConfig(c.env));
    await next();
  };
}
