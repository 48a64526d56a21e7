import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";

/** Paths that serve a page or a public document rather than an API answer. */
const DOCS_PATH = "/docs";
const PUBLIC_PATHS: ReadonlySet<string> = new Set([DOCS_PATH, "/openapi.json"]);

type HeaderList = ReadonlyArray<readonly [string, string]>;

/** A CSP value from its directives, in the order given. */
function csp(directives: Record<string, readonly string[]>): string {
  return Object.entries(directives)
    .map(([name, sources]) => `${name} ${sources.join(" ")}`)
    .join("; ");
}

/**
 * What every answer carries, JSON or page. OWASP's REST Security Cheat Sheet set for API answers
 * (HSTS, nosniff, X-Frame-Options, a CSP and no-store, below), plus CORP and Referrer-Policy. The
 * API is meant to be read by fetch() with CORS, which CORP does not restrict; CORP stops other sites
 * from embedding answers as <script>/<img>.
 */
const common: HeaderList = [
  ["Cross-Origin-Resource-Policy", "same-origin"],
  ["Referrer-Policy", "no-referrer"],
  // Two years, as HSTS preload lists ask; browsers ignore it over plain http (local runs).
  ["Strict-Transport-Security", "max-age=63072000; includeSubDomains"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-Frame-Options", "DENY"],
];

/**
 * What only a document (an HTML page) acts on: the rest of hono/secure-headers' defaults. Sent with
 * the docs page only: each header costs every answer its bytes and its share of workerd's CPU
 * (docs/decisions/0012-security-headers-per-answer-kind.md), and on JSON these do nothing.
 */
const documentOnly: HeaderList = [
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Origin-Agent-Cluster", "?1"],
  ["X-DNS-Prefetch-Control", "off"],
  ["X-Download-Options", "noopen"],
  ["X-Permitted-Cross-Domain-Policies", "none"],
  ["X-XSS-Protection", "0"],
];

const apiHeaders: HeaderList = Object.freeze([
  ...common,
  // JSON needs no sources at all: if an answer were ever rendered as a page, nothing could run.
  [
    "Content-Security-Policy",
    csp({
      "default-src": ["'none'"],
      "frame-ancestors": ["'none'"],
      "base-uri": ["'none'"],
      "form-action": ["'none'"],
    }),
  ],
]);

/**
 * The reference page (http/docs-page.ts) runs two scripts of its own origin (static assets) and
 * fetches /openapi.json. Scalar adds <style> elements at run time (Vue), hence 'unsafe-inline' for
 * styles only; it draws icons as data: URLs.
 */
const docsHeaders: HeaderList = Object.freeze([
  ...common,
  ...documentOnly,
  [
    "Content-Security-Policy",
    csp({
      "default-src": ["'none'"],
      "script-src": ["'self'"],
      "style-src": ["'self'", "'unsafe-inline'"],
      "font-src": ["'self'", "data:"],
      "img-src": ["'self'", "data:"],
      "connect-src": ["'self'"],
      "frame-ancestors": ["'none'"],
      "base-uri": ["'none'"],
      "form-action": ["'none'"],
    }),
  ],
]);

/**
 * Secure headers on every answer (errors, 429 and 503 included), with a CSP fit for JSON everywhere
 * but the docs page; and `Cache-Control: no-store` unless the handler chose a policy: answers hold
 * personal data (patients, appointments) and differ per caller, so no
 * shared or browser cache should keep them. The docs and the OpenAPI document are left cacheable.
 */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async function securityHeaders(c, next) {
    await next();
    const path = c.req.path;
    const headers = c.res.headers;
    for (const [name, value] of path === DOCS_PATH ? docsHeaders : apiHeaders) headers.set(name, value);
    if (!PUBLIC_PATHS.has(path) && !headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
  };
}
