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
 * included, so a client with a broken token learns it at once. The token itself is never logged;
 * the request log gets the role only (`auth`).
 */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    const header = c.req.header("authorization");
    if (header === undefined) {
      c.set("principal", undefined);
      c.get("outcomes").auth = "anonymous";
      return next();
    }
    const m = BEARER.exec(header);
    if (!m) {
      c.get("outcomes").auth = "invalid";
      throw new UnauthorizedError("The Authorization header must be `Bearer <token>`", true);
    }
    try {
      const principal = await principalOf(c, m[1]!);
      c.set("principal", principal);
      c.get("outcomes").auth = principal.role;
    } catch (err) {
      c.get("outcomes").auth = "invalid";
      throw err;
    }
    return next();
  };
}
