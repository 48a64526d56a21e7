import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { UnauthorizedError } from "../http/errors.ts";
import type { Principal } from "../auth/principal.ts";
import { verifyToken } from "../auth/verify.ts";

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

function sameSecret(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const x = enc.encode(a);
  const y = enc.encode(b);
  // Length is not secret (the token's format says it); the bytes are compared in constant time.
  return x.byteLength === y.byteLength && crypto.subtle.timingSafeEqual(x, y);
}

async function principalOf(c: Context<AppEnv>, token: string): Promise<Principal> {
  const metricsToken = c.get("config").metricsToken;
  if (metricsToken && sameSecret(token, metricsToken)) return { sub: "metrics-token", role: "metrics" };
  return verifyToken(token, c.get("config").auth, c.get("deadline"));
}

/**
 * Who is calling. No Authorization header: anonymous (principal undefined), and the policy decides
 * whether that is enough. A header that is not a valid bearer token: 401 on every route, public ones
 * included, so a client with a broken token learns it at once; but not before the rate limiter has
 * counted the attempt against the sender's address (refuseInvalidToken(), after rateLimit()), so
 * guessing tokens, METRICS_TOKEN included, is limited like any other anonymous traffic. The token
 * itself is never logged; the request log gets the role only (`auth`).
 */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    const header = c.req.header("authorization");
    c.set("principal", undefined);
    if (header === undefined) {
      c.get("outcomes").auth = "anonymous";
      return next();
    }
    const m = BEARER.exec(header);
    try {
      if (!m) throw new UnauthorizedError("The Authorization header must be `Bearer <token>`", true);
      const principal = await principalOf(c, m[1]!);
      c.set("principal", principal);
      c.get("outcomes").auth = principal.role;
    } catch (err) {
      c.get("outcomes").auth = "invalid";
      // Anything else (the identity provider's keys unreachable: 503) is not the sender's doing.
      if (!(err instanceof UnauthorizedError)) throw err;
      c.set("authRefusal", err);
    }
    return next();
  };
}

/** Answers the 401 authenticate() found, once rateLimit() has counted it against the address. */
export function refuseInvalidToken(): MiddlewareHandler<AppEnv> {
  return async function refuseInvalidToken(c, next) {
    const refusal = c.get("authRefusal");
    if (refusal) throw refusal;
    return next();
  };
}
