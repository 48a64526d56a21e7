import { Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../functions/env.ts";
import { securityHeaders } from "../../functions/middleware/security-headers.ts";

/**
 * hono/secure-headers with the API's options: the set the docs page (a document) carries. API
 * answers carry the part of it a JSON answer is protected by (OWASP's REST Security Cheat Sheet).
 */
const common = {
  strictTransportSecurity: "max-age=63072000; includeSubDomains",
  xFrameOptions: "DENY",
  referrerPolicy: "no-referrer",
  crossOriginResourcePolicy: "same-origin",
} as const;
const none = ["'none'"];
const reference = {
  api: secureHeaders({
    ...common,
    contentSecurityPolicy: { defaultSrc: none, frameAncestors: none, baseUri: none, formAction: none },
  }),
  docs: secureHeaders({
    ...common,
    contentSecurityPolicy: {
      defaultSrc: none,
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      fontSrc: ["'self'", "data:"],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      frameAncestors: none,
      baseUri: none,
      formAction: none,
    },
  }),
};

async function headersOf(app: Hono<AppEnv>, path: string): Promise<Record<string, string>> {
  app.get("*", (c) => c.json({ ok: true }));
  return Object.fromEntries((await app.request(path)).headers);
}

/** What only a page acts on: left off API answers. */
const DOCUMENT_ONLY = [
  "cross-origin-opener-policy",
  "origin-agent-cluster",
  "x-dns-prefetch-control",
  "x-download-options",
  "x-permitted-cross-domain-policies",
  "x-xss-protection",
];

describe("security headers", () => {
  it("an API answer carries OWASP's REST set, CORP and Referrer-Policy, with the API's CSP and no-store", async () => {
    const ours = await headersOf(new Hono<AppEnv>().use(securityHeaders()), "/healthz");
    expect(ours).toEqual({
      "content-type": "application/json",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      "cross-origin-resource-policy": "same-origin",
      "referrer-policy": "no-referrer",
      "strict-transport-security": "max-age=63072000; includeSubDomains",
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
    });
  });

  it("an API answer's headers are hono/secure-headers' with the API's options, less the document-only ones", async () => {
    const ours = await headersOf(new Hono<AppEnv>().use(securityHeaders()), "/healthz");
    const theirs = await headersOf(new Hono<AppEnv>().use(reference.api), "/healthz");
    for (const name of DOCUMENT_ONLY) delete theirs[name];
    expect(ours).toEqual({ ...theirs, "cache-control": "no-store" });
  });

  it("the docs page carries the same set with its own CSP, and stays cacheable", async () => {
    const ours = await headersOf(new Hono<AppEnv>().use(securityHeaders()), "/docs");
    const theirs = await headersOf(new Hono<AppEnv>().use(reference.docs), "/docs");
    expect(ours).toEqual(theirs);
  });
});
