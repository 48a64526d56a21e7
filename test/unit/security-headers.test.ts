import { Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../functions/env.ts";
import { securityHeaders } from "../../functions/middleware/security-headers.ts";

/**
 * hono/secure-headers with the options the API used before its header set was precomputed: the
 * set every answer must still carry.
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

describe("security headers", () => {
  it("an API answer carries hono/secure-headers' set with the API's CSP, and no-store", async () => {
    const ours = await headersOf(new Hono<AppEnv>().use(securityHeaders()), "/healthz");
    const theirs = await headersOf(new Hono<AppEnv>().use(reference.api), "/healthz");
    expect(ours).toEqual({ ...theirs, "cache-control": "no-store" });
  });

  it("the docs page carries the same set with its own CSP, and stays cacheable", async () => {
    const ours = await headersOf(new Hono<AppEnv>().use(securityHeaders()), "/docs");
    const theirs = await headersOf(new Hono<AppEnv>().use(reference.docs), "/docs");
    expect(ours).toEqual(theirs);
  });
});
