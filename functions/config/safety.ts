import type { z } from "zod";
import type { ConfigSchema } from "./schema.ts";

type Parsed = z.output<typeof ConfigSchema>;

/** A setting that parses but is unsafe in production, and why (never its value: it may be a secret). */
export interface UnsafeSetting {
  name: string;
  reason: string;
}

/** Secrets copied from documentation: anyone who has read it can sign tokens. */
const PLACEHOLDER_SECRETS = new Set(["change-me-to-32-or-more-random-characters"]);
/** Below this, a JWKS URL with an unknown `kid` in each token makes every request a key set download. */
export const MIN_JWKS_COOLDOWN_MS = 1_000;
/** A scraper's bearer token guessed online: 32 characters of a random alphabet are out of reach. */
export const MIN_METRICS_TOKEN_CHARS = 32;

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Each check, named by the variable a deployment must change (or list in UNSAFE_SETTINGS_ALLOWED
 * to accept the risk knowingly). Local development passes all of them as `npm run dev` starts it.
 */
const CHECKS: ReadonlyArray<{ name: string; unsafe: (v: Parsed) => string | undefined }> = [
  {
    name: "AUTH_ISSUER",
    unsafe: (v) =>
      v.AUTH_JWKS_URL && !v.AUTH_ISSUER
        ? "AUTH_JWKS_URL is set without it: tokens from any issuer using those keys would be accepted"
        : undefined,
  },
  {
    name: "AUTH_AUDIENCE",
    unsafe: (v) =>
      v.AUTH_JWKS_URL && !v.AUTH_AUDIENCE
        ? "AUTH_JWKS_URL is set without it: tokens the identity provider issued for other applications would be accepted"
        : undefined,
  },
  {
    name: "AUTH_JWKS_URL",
    unsafe: (v) => {
      if (!v.AUTH_JWKS_URL) return undefined;
      const url = new URL(v.AUTH_JWKS_URL);
      return url.protocol !== "https:" && !LOOPBACK.has(url.hostname)
        ? "keys fetched over plain http can be replaced on the way: use https"
        : undefined;
    },
  },
  {
    name: "AUTH_JWKS_COOLDOWN_MS",
    unsafe: (v) =>
      v.AUTH_JWKS_URL && v.AUTH_JWKS_COOLDOWN_MS < MIN_JWKS_COOLDOWN_MS
        ? `below ${MIN_JWKS_COOLDOWN_MS} ms, tokens naming unknown key ids make every request download the key set`
        : undefined,
  },
  {
    name: "AUTH_JWT_SECRET",
    unsafe: (v) =>
      PLACEHOLDER_SECRETS.has(v.AUTH_JWT_SECRET)
        ? "it is the placeholder from .dev.vars.example: anyone can sign tokens with it"
        : undefined,
  },
  {
    name: "METRICS_TOKEN",
    unsafe: (v) =>
      v.METRICS_TOKEN && v.METRICS_TOKEN.length < MIN_METRICS_TOKEN_CHARS
        ? `shorter than ${MIN_METRICS_TOKEN_CHARS} characters, it can be guessed`
        : undefined,
  },
  {
    name: "AUTH_TOKEN_TYPES",
    unsafe: (v) =>
      v.AUTH_TOKEN_TYPES.length === 0
        ? "empty: any signed JWT of the identity provider (an ID token, a logout token) would pass as an access token"
        : undefined,
  },
];

/** The names UNSAFE_SETTINGS_ALLOWED may list. */
export const CHECKED_SETTINGS: readonly string[] = CHECKS.map((c) => c.name);

/** The unsafe settings of `v` not waived by UNSAFE_SETTINGS_ALLOWED. */
export function unsafeSettings(v: Parsed): UnsafeSetting[] {
  const waived = new Set(v.UNSAFE_SETTINGS_ALLOWED);
  return CHECKS.flatMap(({ name, unsafe }) => {
    const reason = waived.has(name) ? undefined : unsafe(v);
    return reason ? [{ name, reason }] : [];
  });
}
