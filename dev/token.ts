/**
 * `npm run token -- --role patient --sub <patient id> [--ttl 3600]`: prints a bearer token for the
 * local Worker, signed (HS256) with the same AUTH_JWT_SECRET `npm run dev` gives it (see
 * localAuthSecret). Admins need no --sub. Set AUTH_ISSUER / AUTH_AUDIENCE in the environment when
 * the Worker checks them. Only the token goes to stdout:  TOKEN=$(npm run -s token -- --role admin)
 */
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { TOKEN_ROLES, type TokenRole } from "../functions/auth/principal.ts";
import { localAuthSecret } from "./local.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function fail(message: string): never {
  console.error(
    `[token] ${message}\n[token] usage: npm run token -- --role admin|doctor|patient [--sub <id>] [--ttl <seconds>]`,
  );
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    role: { type: "string", default: "admin" },
    sub: { type: "string" },
    ttl: { type: "string", default: "3600" },
  },
});

const role = values.role as TokenRole;
if (!TOKEN_ROLES.includes(role)) fail(`--role must be one of ${TOKEN_ROLES.join(", ")}`);
const sub = values.sub ?? (role === "admin" ? "local-admin" : undefined);
// A patient's or doctor's subject is their id: that is how the policy recognises what they own.
if (!sub) fail(`a ${role} token needs --sub <${role} id>`);
if (role !== "admin" && !UUID.test(sub)) fail(`--sub must be the ${role}'s id (a UUID)`);
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl < 1 || ttl > 30 * 86_400) fail("--ttl must be whole seconds, 1 to 2592000 (30 days)");

const { secret, source } = localAuthSecret();
const now = Math.floor(Date.now() / 1_000);
const token = await new SignJWT({
  role,
  ...(process.env.AUTH_ISSUER ? { iss: process.env.AUTH_ISSUER } : {}),
  ...(process.env.AUTH_AUDIENCE ? { aud: process.env.AUTH_AUDIENCE } : {}),
})
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(sub)
  .setIssuedAt(now)
  .setExpirationTime(now + ttl)
  .sign(new TextEncoder().encode(secret));

console.error(`[token] ${role} ${sub}, valid ${ttl} s, signed with the secret from ${source}`);
console.log(token);
