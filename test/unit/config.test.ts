/**
 * The Worker's configuration on its own (functions/config/index.ts, schema.ts): defaults, refusals
 * that name the variable but never its value (it may be a secret), and the per-env cache.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../functions/config/index.ts";

/** Only what has no default: every other variable is left unset (wrangler.toml is not read here). */
const required = () =>
  ({
    DATABASE_URL: "postgres://app:pw@db.example.test/clinic",
    INSURANCE_API_URL: "https://insurer.example.test",
  }) as unknown as Env;

/** The message of the ConfigError `overrides` cause (anything else fails the test). */
function refusal(overrides: Partial<Env>, base: Env = env): string {
  try {
    loadConfig({ ...base, ...overrides });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("the configuration was accepted");
}

describe("loadConfig", () => {
  it("applies the defaults when only the required variables are set", () => {
    const config = loadConfig(required());
    expect(config.databaseUrl).toBe("postgres://app:pw@db.example.test/clinic");
    expect(config.insurance).toEqual({
      baseUrl: "https://insurer.example.test",
      apiKey: undefined,
      timeoutMs: 2_000,
      maxAttempts: 2,
    });
    expect(config.db).toMatchObject({ poolMax: 5, queryPath: "http", wsProxy: undefined, httpEndpoint: undefined });
    expect(config.budget).toEqual({ defaultMs: 10_000, maxMs: 30_000, backgroundMs: 10_000 });
    expect(config.breaker).toMatchObject({
      scope: "shared",
      failureThreshold: 5,
      openMs: 30_000,
      halfOpenProbes: 1,
      insuranceName: "insurance",
    });
    expect(config.rateLimit).toEqual({ requests: 300, writeRequests: 60, windowMs: 60_000, timeoutMs: 250 });
    expect(config.maxInflightRequests).toBe(500);
    expect(config.cors).toEqual({ allowedOrigins: [], credentials: false, maxAgeSeconds: 600 });
    expect(config.tracing).toMatchObject({ endpoint: undefined, headers: {}, sampleRatio: 1 });
    expect(config.auth).toMatchObject({ secret: undefined, jwksUrl: undefined, issuer: undefined, roleClaim: "role" });
    expect(config.metricsToken).toBeUndefined();
    expect(config.debugEndpoints).toBe(false);
  });

  it("names every missing required variable", () => {
    const message = refusal({}, {} as unknown as Env);
    expect(message).toContain("DATABASE_URL");
    expect(message).toContain("INSURANCE_API_URL");
  });

  it("refuses a value out of range, naming the variable and not the value", () => {
    const message = refusal({ DB_POOL_MAX: "987654" });
    expect(message).toContain("DB_POOL_MAX");
    expect(message).not.toContain("987654");
    expect(refusal({ OTEL_SAMPLE_RATIO: "1.5" })).toContain("OTEL_SAMPLE_RATIO");
    expect(refusal({ N_PLUS_ONE_ACTION: "explode" })).toContain("N_PLUS_ONE_ACTION");
  });

  it("refuses malformed OTLP headers without repeating the secret in them", () => {
    const message = refusal({ OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%zzTOPSECRET4242" });
    expect(message).toContain("OTEL_EXPORTER_OTLP_HEADERS");
    expect(message).not.toMatch(/TOPSECRET4242|Bearer|authorization/);
  });

  it("refuses a JWT secret shorter than 32 characters without repeating it", () => {
    const message = refusal({ AUTH_JWT_SECRET: "short-secret-TOPSECRET4242" });
    expect(message).toContain("AUTH_JWT_SECRET");
    expect(message).not.toContain("TOPSECRET4242");
  });

  it("refuses a connection string that is not a URL without repeating its password", () => {
    const message = refusal({ DATABASE_URL: "host=db user=app password=TOPSECRET4242" });
    expect(message).toContain("DATABASE_URL");
    expect(message).not.toContain("TOPSECRET4242");
  });

  it("refuses CORS * together with credentials, but allows each on its own", () => {
    expect(refusal({ CORS_ALLOWED_ORIGINS: "*", CORS_ALLOW_CREDENTIALS: "true" })).toContain("CORS_ALLOWED_ORIGINS");
    expect(loadConfig({ ...env, CORS_ALLOWED_ORIGINS: "*" }).cors).toMatchObject({
      allowedOrigins: ["*"],
      credentials: false,
    });
    expect(
      loadConfig({
        ...env,
        CORS_ALLOWED_ORIGINS: "https://a.example, https://b.example:8443",
        CORS_ALLOW_CREDENTIALS: "true",
      }).cors,
    ).toMatchObject({
      allowedOrigins: ["https://a.example", "https://b.example:8443"],
      credentials: true,
    });
  });

  it("gives a blank numeric variable its default, not 0 (which would turn a limit off)", () => {
    const config = loadConfig({
      ...required(),
      RATE_LIMIT_REQUESTS: "",
      MAX_INFLIGHT_REQUESTS: " ",
      OTEL_SAMPLE_RATIO: "",
    });
    expect(config.rateLimit.requests).toBe(300);
    expect(config.maxInflightRequests).toBe(500);
    expect(config.tracing.sampleRatio).toBe(1);
  });

  it("caps the default request budget at REQUEST_TIMEOUT_MAX_MS", () => {
    expect(loadConfig({ ...env, REQUEST_TIMEOUT_MS: "120000", REQUEST_TIMEOUT_MAX_MS: "30000" }).budget).toMatchObject({
      defaultMs: 30_000,
      maxMs: 30_000,
    });
    expect(loadConfig({ ...env, REQUEST_TIMEOUT_MS: "2000", REQUEST_TIMEOUT_MAX_MS: "30000" }).budget).toMatchObject({
      defaultMs: 2_000,
      maxMs: 30_000,
    });
  });

  it("parses an env object once: the same object gives the same Config, a new one a fresh Config", () => {
    const testEnv: Env = { ...env, BREAKER_OPEN_MS: "1234" };
    const first = loadConfig(testEnv);
    expect(loadConfig(testEnv)).toBe(first);
    const changed = loadConfig({ ...testEnv, BREAKER_OPEN_MS: "4321" });
    expect(changed).not.toBe(first);
    expect([first.breaker.openMs, changed.breaker.openMs]).toEqual([1_234, 4_321]);
  });
});

describe("settings that are unsafe in production", () => {
  const withJwks = { AUTH_JWKS_URL: "https://idp.example.test/.well-known/jwks.json" } as Partial<Env>;
  const issued = { ...withJwks, AUTH_ISSUER: "https://idp.example.test/", AUTH_AUDIENCE: "clinic-edge" };

  it("refuses a JWKS URL without AUTH_ISSUER and AUTH_AUDIENCE, naming both", () => {
    const message = refusal(withJwks, required());
    expect(message).toContain("AUTH_ISSUER (");
    expect(message).toContain("AUTH_AUDIENCE (");
    expect(message).toContain("UNSAFE_SETTINGS_ALLOWED");
  });

  it("refuses a JWKS URL over plain http, except on loopback", () => {
    expect(refusal({ ...issued, AUTH_JWKS_URL: "http://idp.example.test/jwks.json" }, required())).toContain(
      "AUTH_JWKS_URL (",
    );
    expect(loadConfig({ ...required(), ...issued, AUTH_JWKS_URL: "http://127.0.0.1:9/jwks.json" }).auth.jwksUrl).toBe(
      "http://127.0.0.1:9/jwks.json",
    );
  });

  it("refuses a JWKS cooldown under a second", () => {
    expect(refusal({ ...issued, AUTH_JWKS_COOLDOWN_MS: "0" }, required())).toContain("AUTH_JWKS_COOLDOWN_MS (");
  });

  it("refuses the placeholder secret of .dev.vars.example without repeating it", () => {
    const placeholder = "change-me-to-32-or-more-random-characters";
    const message = refusal({ AUTH_JWT_SECRET: placeholder }, required());
    expect(message).toContain("AUTH_JWT_SECRET (");
    expect(message).not.toContain(placeholder);
  });

  it("refuses a METRICS_TOKEN shorter than 32 characters without repeating it", () => {
    const message = refusal({ METRICS_TOKEN: "scrape-me-123" }, required());
    expect(message).toContain("METRICS_TOKEN (");
    expect(message).not.toContain("scrape-me-123");
    expect(loadConfig({ ...required(), METRICS_TOKEN: "s".repeat(32) }).metricsToken).toBe("s".repeat(32));
  });

  it("refuses turning the token type check off", () => {
    expect(refusal({ AUTH_TOKEN_TYPES: "" }, required())).toContain("AUTH_TOKEN_TYPES (");
  });

  it("accepts each of them when UNSAFE_SETTINGS_ALLOWED lists its name, and only that one", () => {
    const config = loadConfig({
      ...required(),
      ...issued,
      AUTH_JWKS_COOLDOWN_MS: "0",
      UNSAFE_SETTINGS_ALLOWED: "AUTH_JWKS_COOLDOWN_MS",
    });
    expect(config.auth.jwksCooldownMs).toBe(0);
    const message = refusal(
      { ...issued, AUTH_JWKS_COOLDOWN_MS: "0", AUTH_TOKEN_TYPES: "", UNSAFE_SETTINGS_ALLOWED: "AUTH_TOKEN_TYPES" },
      required(),
    );
    expect(message).toContain("AUTH_JWKS_COOLDOWN_MS (");
    expect(message).not.toContain("AUTH_TOKEN_TYPES (");
  });

  it("refuses a name in UNSAFE_SETTINGS_ALLOWED that is not a checked setting (a typo waives nothing)", () => {
    expect(refusal({ UNSAFE_SETTINGS_ALLOWED: "AUTH_ISSUR" }, required())).toContain("UNSAFE_SETTINGS_ALLOWED");
  });

  it("accepts the defaults, as `npm run dev` starts the Worker", () => {
    expect(() => loadConfig({ ...required(), AUTH_JWT_SECRET: "x".repeat(43) })).not.toThrow();
  });
});
