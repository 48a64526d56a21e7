import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { Config } from "../config/index.ts";
import type { AppEnv } from "../env.ts";

/** Request headers a browser client may send: the API's own and conditional requests (ETags). */
const ALLOW_HEADERS = [
  "Content-Type",
  "Authorization",
  "X-Request-Id",
  "X-Request-Timeout-Ms",
  "traceparent",
  "If-Match",
  "If-None-Match",
];

/** Answer headers a browser client may read. */
const EXPOSE_HEADERS = [
  "Retry-After",
  "Server-Timing",
  "X-Request-Id",
  "Location",
  "ETag",
  "RateLimit",
  "RateLimit-Policy",
];

const corsByConfig = new WeakMap<Config["cors"], MiddlewareHandler<AppEnv>>();

function corsFor(settings: Config["cors"]): MiddlewareHandler<AppEnv> {
  let handler = corsByConfig.get(settings);
  if (!handler) {
    const { allowedOrigins, credentials, maxAgeSeconds } = settings;
    handler = cors({
      // Exact matches only; "*" (never with credentials: config.ts refuses it) answers any origin.
      origin: allowedOrigins.includes("*") ? "*" : allowedOrigins,
      allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
      allowHeaders: ALLOW_HEADERS,
      exposeHeaders: EXPOSE_HEADERS,
      credentials,
      maxAge: maxAgeSeconds,
    });
    corsByConfig.set(settings, handler);
  }
  return handler;
}

/**
 * CORS for the origins in CORS_ALLOWED_ORIGINS (hono/cors). With none configured, no CORS header is
 * ever sent: browsers then allow only same-origin calls. A preflight is answered here, before load
 * shedding and rate limiting, as it does no work.
 */
export function corsFromConfig(): MiddlewareHandler<AppEnv> {
  return async function corsFromConfig(c, next) {
    const settings = c.get("config").cors;
    if (settings.allowedOrigins.length === 0) return next();
    return corsFor(settings)(c, next);
  };
}
