import { env } from "cloudflare:workers";
import { inject } from "vitest";
import { SignJWT, type JWTPayload } from "jose";
import { POLICY, type Policy } from "../../functions/auth/policy.ts";
import type { TokenRole } from "../../functions/auth/principal.ts";

/** Who a test calls as: a role and subject, or nobody. */
export interface As {
  role: TokenRole;
  sub: string;
}
export type Caller = As | "anonymous";

/** The default caller of call()/postJson()/patchJson(): admins may do everything. */
export const ADMIN: As = { role: "admin", sub: "test-admin" };
export const asPatient = (id: string): As => ({ role: "patient", sub: id });
export const asDoctor = (id: string): As => ({ role: "doctor", sub: id });

export interface TokenOptions {
  /** Seconds from now; negative for an expired token. Default one hour. */
  expiresIn?: number;
  /** Another HS256 key (a bad signature); default the Worker's AUTH_JWT_SECRET. */
  secret?: string;
  /** Claims to add or override (iss, aud, role...). */
  claims?: JWTPayload;
}

/** A valid HS256 token for `as`, as the Worker under test accepts it (its issuer and audience). */
export async function tokenFor(as: As, options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1_000);
  return new SignJWT({
    sub: as.sub,
    role: as.role,
    iss: env.AUTH_ISSUER,
    aud: env.AUTH_AUDIENCE,
    iat: now,
    exp: now + (options.expiresIn ?? 3_600),
    ...options.claims,
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(options.secret ?? env.AUTH_JWT_SECRET));
}

const cache = new Map<string, Promise<string>>();

/** The Authorization header for `caller` (none for anonymous); tokens are reused within the file. */
export async function authHeader(caller: Caller = ADMIN): Promise<Record<string, string>> {
  if (caller === "anonymous") return {};
  const key = `${caller.role} ${caller.sub}`;
  let token = cache.get(key);
  if (!token) {
    token = tokenFor(caller);
    cache.set(key, token);
  }
  return { authorization: `Bearer ${await token}` };
}

/** The Worker's policy plus entries for routes a test adds to its own app (anything unlisted is refused). */
export function policyWith(extra: Policy): Policy {
  return { ...POLICY, ...extra };
}

/** The identity provider's stand-in (dev/jwks-server.ts): one named key set. */
export function keyServer(set = "default") {
  const base = `${inject("jwksServer")}/sets/${set}`;
  const post = async <T>(action: string, body: unknown = {}): Promise<T> => {
    const res = await fetch(`${base}/${action}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`key server ${action}: ${res.status}`);
    return res.json<T>();
  };
  return {
    jwksUrl: `${base}/jwks.json`,
    /** An ES256 token signed with the set's current key; claims default to a valid admin's. */
    async sign(claims: JWTPayload = {}, expiresIn: string | number = "1h"): Promise<string> {
      const { token } = await post<{ token: string }>("sign", {
        claims: { sub: ADMIN.sub, role: ADMIN.role, iss: env.AUTH_ISSUER, aud: env.AUTH_AUDIENCE, ...claims },
        expiresIn,
      });
      return token;
    },
    rotate: () => post<{ kid: string }>("rotate"),
    async stats(): Promise<{ fetches: number; kid: string }> {
      return (await fetch(`${base}/stats`)).json();
    },
  };
}
