/**
 * How the benches authenticate: as an admin (every route the benches load allows admins), with an
 * HS256 bearer token. The Workers the benches start get a secret made for this run
 * (BENCH_AUTH_BINDINGS, merged into wranglerSettings()'s bindings), so no token of one run is
 * valid in another; bench/load.ts signs with the local stack's secret instead (localAuthSecret).
 */
import { randomBytes } from "node:crypto";
import { SignJWT } from "jose";

/** The AUTH_JWT_SECRET of every Worker a bench starts in this process. */
const BENCH_SECRET = randomBytes(32).toString("base64url");

/** The binding that gives a Worker under bench this run's secret. */
export const BENCH_AUTH_BINDINGS: Readonly<{ AUTH_JWT_SECRET: string }> = { AUTH_JWT_SECRET: BENCH_SECRET };

export interface AdminTokenOptions {
  /** The HS256 secret the Worker verifies with; default: this run's (BENCH_AUTH_BINDINGS). */
  secret?: string;
  /** The token's subject: the rate limiter's caller key is `<role>:<sub>`; a patient's or doctor's id. */
  sub?: string;
  /** Default admin; the soak also acts as patients and doctors. */
  role?: "admin" | "doctor" | "patient";
  /** Claims the Worker checks when AUTH_ISSUER / AUTH_AUDIENCE are set. */
  issuer?: string;
  audience?: string;
  /** Lifetime in seconds (default 6 h: longer than any bench run, bench:deadlines' --max-seconds included). */
  ttlS?: number;
}

/** A signed bearer token (an admin's unless `role` says otherwise), as `npm run token` makes one. */
export async function adminToken(options: AdminTokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1_000);
  return new SignJWT({
    role: options.role ?? "admin",
    ...(options.issuer ? { iss: options.issuer } : {}),
    ...(options.audience ? { aud: options.audience } : {}),
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.sub ?? "bench")
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlS ?? 6 * 3_600))
    .sign(new TextEncoder().encode(options.secret ?? BENCH_SECRET));
}

/** `{ authorization: "Bearer …" }` for this run's Workers, to spread into a request's headers. */
export async function adminHeaders(options: AdminTokenOptions = {}): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await adminToken(options)}` };
}
