import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyOptions,
} from "jose";
import type { AuthConfig } from "../config/index.ts";
import { ClientClosedError, DeadlineExceededError, type Deadline } from "../../core/deadline.ts";
import { UnauthorizedError, UnavailableError } from "../http/errors.ts";
import { TOKEN_ROLES, type Principal, type TokenRole } from "./principal.ts";

/** Clocks of the identity provider and the edge disagree a little; a minute would be generous. */
const CLOCK_TOLERANCE_S = 30;
/** Algorithms accepted from the key set. HS256 is never among them, so a public key can never be used as an HMAC secret. */
const ASYMMETRIC = ["RS256", "ES256"];
/** How long a key set download may take before the request gets a 503 (its deadline may end it sooner). */
const JWKS_TIMEOUT_MS = 3_000;
/** The pause after a failed key set download before a request may try again. */
const JWKS_RETRY_AFTER_MS = 5_000;

type KeySet = ReturnType<typeof createRemoteJWKSet>;

/**
 * One key set cache per (URL, cooldown) for the isolate's life: jose keeps the downloaded keys and
 * fetches again when they are older than 10 minutes, or when a token names a `kid` it does not have
 * (a rotation) and the cooldown has passed. It holds plain data (JSON and CryptoKeys), no I/O
 * object, so sharing it between requests is safe on workerd; on Workers jose also never shares an
 * in-flight download between requests (it starts its own), which is what workerd requires.
 */
const keySets = new Map<string, KeySet>();

function keySet(url: string, cooldownMs: number): KeySet {
  const key = `${cooldownMs} ${url}`;
  let set = keySets.get(key);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { cooldownDuration: cooldownMs, timeoutDuration: JWKS_TIMEOUT_MS });
    keySets.set(key, set);
  }
  return set;
}

/**
 * The HS256 key, imported once per secret rather than by jose on every token (importKey was a
 * measurable share of a request's CPU). The CryptoKey itself is kept, not a promise of it, so no
 * request ever waits on another request's work; two first requests may both import it, harmlessly.
 */
const hmacKeys = new WeakMap<Uint8Array, CryptoKey>();

async function hmacKey(secret: Uint8Array): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    hmacKeys.set(secret, key);
  }
  return key;
}

/**
 * HS256 tokens this isolate has verified, per configuration: a client sends the same token with
 * every request until it expires, and verifying it again (base64, JSON, HMAC, claims) was the
 * largest share of a trivial request's CPU after logging. Only HS256: its key changes only with the
 * configuration (a new AuthConfig, a new cache), whereas a JWKS key can be retired at any time and
 * must stop working at once. An entry lives until the token's `exp`, and at most a minute; the map
 * is keyed by the whole token, so only the very string that verified is ever accepted from it.
 */
const verifiedHs256 = new WeakMap<AuthConfig, Map<string, { principal: Principal; until: number }>>();
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 1_000;

function cachedHs256(auth: AuthConfig, token: string, now: number): Principal | undefined {
  const entry = verifiedHs256.get(auth)?.get(token);
  return entry && now < entry.until ? entry.principal : undefined;
}

function rememberHs256(auth: AuthConfig, token: string, principal: Principal, exp: number, now: number): void {
  const until = Math.min(exp * 1_000, now + VERIFIED_TTL_MS);
  if (until <= now) return;
  let tokens = verifiedHs256.get(auth);
  if (!tokens) {
    tokens = new Map();
    verifiedHs256.set(auth, tokens);
  }
  if (tokens.size >= VERIFIED_MAX) {
    for (const [key, entry] of tokens) if (entry.until <= now) tokens.delete(key);
    // Still full: the oldest entry goes (Map order).
    const oldest = tokens.size >= VERIFIED_MAX ? tokens.keys().next().value : undefined;
    if (oldest !== undefined) tokens.delete(oldest);
  }
  tokens.set(token, { principal, until });
}

/** jose's refusals that are the token's fault: 401. Anything else (the key set could not be had) is ours: 503. */
function tokenProblem(err: unknown): string | undefined {
  if (err instanceof errors.JWTExpired) return "The token has expired";
  if (err instanceof errors.JWTClaimValidationFailed) return `The token's "${err.claim}" claim is not accepted`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return "The token's signature does not verify";
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return "No key of the identity provider matches the token";
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return "The token's algorithm is not accepted";
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return "The token is malformed";
  return undefined;
}

function roleOf(payload: JWTPayload, claim: string): TokenRole {
  const role = payload[claim];
  if (typeof role !== "string" || !(TOKEN_ROLES as readonly string[]).includes(role)) {
    throw new UnauthorizedError(`The token's "${claim}" claim must be one of ${TOKEN_ROLES.join(", ")}`, true);
  }
  return role as TokenRole;
}

/**
 * Verifies a bearer JWT and returns who it names. The algorithm picks the key, and each key accepts
 * only its own algorithms: HS256 with AUTH_JWT_SECRET, RS256/ES256 with AUTH_JWKS_URL's keys. A
 * token whose algorithm has no configured key (including "none") is refused before any verification.
 * Messages never quote the token or a claim's value.
 */
export async function verifyToken(token: string, auth: AuthConfig, deadline: Deadline): Promise<Principal> {
  const cached = auth.secret ? cachedHs256(auth, token, Date.now()) : undefined;
  if (cached) return cached;
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new UnauthorizedError("The token is malformed", true);
  }
  const alg = header.alg;
  const options: JWTVerifyOptions = {
    clockTolerance: CLOCK_TOLERANCE_S,
    requiredClaims: ["sub", "exp"],
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
  };
  let payload: JWTPayload;
  const fromKeySet = alg !== undefined && ASYMMETRIC.includes(alg) && auth.jwksUrl !== undefined;
  try {
    if (alg === "HS256" && auth.secret) {
      ({ payload } = await jwtVerify(token, await hmacKey(auth.secret), { ...options, algorithms: ["HS256"] }));
    } else if (fromKeySet) {
      const keys = keySet(auth.jwksUrl!, auth.jwksCooldownMs);
      ({ payload } = await deadline.race(jwtVerify(token, keys, { ...options, algorithms: ASYMMETRIC }), "upstream"));
    } else {
      throw new UnauthorizedError("The token's algorithm is not accepted", true);
    }
  } catch (err) {
    if (err instanceof UnauthorizedError || err instanceof DeadlineExceededError || err instanceof ClientClosedError)
      throw err;
    const problem = tokenProblem(err);
    if (problem) throw new UnauthorizedError(problem, true, { cause: err });
    // The key set could not be downloaded or read (timeout, connection refused, not JSON...): the
    // token may be fine, we cannot tell. Not the client's fault, and not a bug either.
    if (fromKeySet)
      throw new UnavailableError("The identity provider's keys cannot be fetched", JWKS_RETRY_AFTER_MS, { cause: err });
    throw err;
  }
  // An ID token or a logout token of the same provider verifies with the same keys: only tokens
  // typed as access tokens are accepted (RFC 8725 §3.11).
  if (auth.tokenTypes.length > 0) {
    const typ = header.typ?.toLowerCase().replace(/^application\//, "");
    if (typ === undefined || !auth.tokenTypes.includes(typ)) {
      throw new UnauthorizedError('The token\'s "typ" header is not accepted', true);
    }
  }
  // A stolen long-lived token stays useful for its whole life: cap what any issuer may grant.
  const lifetime = payload.exp! - (payload.iat ?? Math.floor(Date.now() / 1_000));
  if (lifetime > auth.maxTokenLifetimeS) {
    throw new UnauthorizedError(`The token is valid for longer than ${auth.maxTokenLifetimeS} s`, true);
  }
  // jwtVerify checked that sub is present; an empty one names nobody.
  if (!payload.sub) throw new UnauthorizedError('The token\'s "sub" claim is empty', true);
  const principal: Principal = { sub: payload.sub, role: roleOf(payload, auth.roleClaim) };
  // jwtVerify required `exp`.
  if (alg === "HS256" && payload.exp !== undefined) rememberHs256(auth, token, principal, payload.exp, Date.now());
  return principal;
}
