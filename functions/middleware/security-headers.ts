import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../env.ts";

/** Paths that serve a page or a public document rather than an API answer. */
const DOCS_PATH = "/docs";
const PUBLIC_PATHS: ReadonlySet<string> = new Set([DOCS_PATH, "/openapi.json"]);

/** What every answer carries; the API's answers are JSON that no browser should render or frame. */
const common = {
  // Two years, as HSTS preload lists ask; browsers ignore it over plain http (local runs).
  strictTransportSecurity: "max-age=63072000; includeSubDomains",
  xFrameOptions: "DENY",
  referrerPolicy: "no-referrer",
  // The API is meant to be read by fetch() with CORS, which CORP does not restrict; it stops other
  // sites from embedding answers as <script>/<img>.
  crossOriginResourcePolicy: "same-origin",
} as const;

const apiHeaders = secureHeaders({
  ...common,
  // JSON needs no sources at all: if an answer were ever rendered as a page, nothing could run.
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
  },
});

/**
 * The reference page (http/docs-page.ts) runs two scripts of its own origin (static assets) and
 * fetches /openapi.json. Scalar adds <style> elements at run time (Vue), hence 'unsafe-inline' for
 * styles only; it draws icons as data: URLs.
 */
const docsHeaders = secureHeaders({
  ...common,
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    fontSrc: ["'self'", "data:"],
    imgSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
  },
});

/**
 * Secure headers on every answer (errors, 429 and 503 included), with a CSP fit for JSON everywhere
 * but the docs page; and `Cache-Control: no-store` unless the handler chose a policy: answers hold
 * personal data (patients, appointments) and, once authentication lands, differ per caller, so no
 * shared or browser cache should keep them. The docs and the OpenAPI document are left cacheable.
 */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async function securityHeaders(c, next) {
    const headers = c.req.path === DOCS_PATH ? docsHeaders : apiHeaders;
    await headers(c, async () => {
      await next();
    });
    if (!PUBLIC_PATHS.has(c.req.path) && !c.res.headers.has("Cache-Control"))
      c.res.headers.set("Cache-Control", "no-store");
  };
}
