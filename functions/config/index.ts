import type { QueryPath } from "../../db/client.ts";
import type { MetricsExportConfig } from "../../core/telemetry/metrics-export.ts";
import type { TracingConfig } from "../../core/telemetry/tracing.ts";
import { ConfigSchema } from "./schema.ts";
import { unsafeSettings } from "./safety.ts";

/** How one dependency's circuit breaker behaves; the same settings drive the shared object and the isolates. */
export interface BreakerSettings {
  /** Consecutive failures (fleet-wide) that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit refuses calls before probes are let through. */
  openMs: number;
  /** Probe calls allowed at once, fleet-wide, while half-open; all must succeed to close. */
  halfOpenProbes: number;
}

export interface Config {
  databaseUrl: string;
  db: {
    poolMax: number;
    connectTimeoutMs: number;
    idleTimeoutMs: number;
    statementTimeoutMs: number;
    /** host:port of a local WebSocket->TCP bridge; undefined when talking to Neon directly. */
    wsProxy: string | undefined;
    /** Where single statements and batches go; interactive transactions always use WebSockets. */
    queryPath: QueryPath;
    /** A Neon-compatible /sql endpoint (local stand-in); undefined: Neon's own. */
    httpEndpoint: string | undefined;
  };
  maxBodyBytes: number;
  /** The N+1 detector: how many runs of one SQL shape in a request trip it, and what it then does. */
  nPlusOne: { threshold: number; action: "warn" | "fail" };
  budget: {
    /** A request's budget when neither the route nor the client says otherwise. */
    defaultMs: number;
    /** No budget, whoever asks, is longer. */
    maxMs: number;
    /** Each task handed to ctx.waitUntil gets this long. */
    backgroundMs: number;
  };
  coalescer: {
    /** How long a loaded value is served to later callers. */
    ttlMs: number;
    /** The same for "not found", kept shorter so a new resource shows up quickly. */
    notFoundTtlMs: number;
    /** The shared load's own budget, whoever is waiting on it. */
    loadTimeoutMs: number;
  };
  insurance: {
    /** Base URL of the eligibility API (the local stand-in: dev/insurance.ts). */
    baseUrl: string;
    /** Secret: sent as a bearer token, never logged. Undefined: not configured, nothing is asked. */
    apiKey: string | undefined;
    /** One attempt's limit, within the request's deadline. */
    timeoutMs: number;
    /** Attempts per eligibility query, retries included (only safe failures are retried). */
    maxAttempts: number;
  };
  breaker: BreakerSettings & {
    /** The Durable Object name (idFromName) of the insurer's breaker. */
    insuranceName: string;
    /** "shared": one state for every isolate (Durable Object); "isolate": each isolate on its own. */
    scope: "shared" | "isolate";
    /** How long an isolate trusts its view of a closed circuit before refreshing it in the background. */
    viewTtlMs: number;
  };
  /** Spans over OTLP/HTTP; endpoint undefined: nothing recorded, nothing sent. */
  tracing: TracingConfig;
  idempotency: {
    /** How long a stored outcome is replayed for its key; the key may be used afresh after that. */
    ttlSeconds: number;
    /** How long a retry waits for the first request with its key to finish before answering 409. */
    waitMs: number;
  };
  /** This isolate's registry pushed over OTLP/HTTP (same endpoint); endpoint undefined: nothing sent. */
  metrics: MetricsExportConfig;
  /** Per-caller limits (functions/middleware/rate-limit.ts); a limit of 0 is off. */
  rateLimit: {
    /** Requests one caller may make in any window of `windowMs`. */
    requests: number;
    /** Of those, writes (POST, PUT, PATCH, DELETE); 0: writes count only against `requests`. */
    writeRequests: number;
    windowMs: number;
    /** How long a request waits for the limiter's answer before going on without it (fail open). */
    timeoutMs: number;
  };
  /** Per-isolate leases on a caller's allowance (functions/resilience/rate-limiter/lease.ts). */
  rateLimitLease: {
    /** Most admissions an isolate takes from the object at once. */
    max: number;
    /** How long an isolate may spend a lease, at most the rate limit's window. */
    ms: number;
  };
  /** Requests this isolate handles at once before it sheds new ones with 503; 0: no limit. */
  maxInflightRequests: number;
  /** Scheduled appointments ahead one patient may hold. */
  maxUpcomingAppointments: number;
  /** A patient's own insurance member id changes per 24 hours (admins unlimited). */
  insuranceMemberIdChangesPerDay: number;
  cors: {
    /** Origins allowed to call from a browser (exact match), or ["*"]; empty: no CORS headers at all. */
    allowedOrigins: string[];
    credentials: boolean;
    /** How long a browser may cache a preflight's answer. */
    maxAgeSeconds: number;
  };
  /** Bearer JWT verification (functions/auth/verify.ts). */
  auth: AuthConfig;
  /** The bearer token a scraper may use for /metrics; undefined: admins only. */
  metricsToken: string | undefined;
  /** Serve GET /debug/inflight to admins. */
  debugEndpoints: boolean;
}

export interface AuthConfig {
  /** HS256 key (AUTH_JWT_SECRET, a secret); undefined: HS256 tokens are refused. */
  secret: Uint8Array | undefined;
  /** Where the identity provider publishes its public keys (RS256/ES256); undefined: none accepted. */
  jwksUrl: string | undefined;
  /** Checked against `iss` / `aud` when set. */
  issuer: string | undefined;
  audience: string | undefined;
  /** The claim that carries the role ("role"; e.g. a namespaced claim with Auth0). */
  roleClaim: string;
  /** After a key set download, how long a token with an unknown `kid` waits before it may trigger another. */
  jwksCooldownMs: number;
  /** Accepted `typ` header values, lower case without "application/"; empty: not checked. */
  tokenTypes: string[];
  /** The longest validity a token may have (exp − iat, or exp − now). */
  maxTokenLifetimeS: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const cache = new WeakMap<object, Config>();

export function loadConfig(env: Env): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    // Names only: values may be secrets.
    const fields = parsed.error.issues.map((i) => i.path.join(".")).join(", ");
    throw new ConfigError(`Invalid Worker configuration: ${fields}`);
  }
  const v = parsed.data;
  const unsafe = unsafeSettings(v);
  if (unsafe.length > 0) {
    const list = unsafe.map((u) => `${u.name} (${u.reason})`).join("; ");
    throw new ConfigError(
      `Unsafe Worker configuration: ${list}. Change it, or list the name in UNSAFE_SETTINGS_ALLOWED to accept the risk`,
    );
  }
  const config: Config = {
    databaseUrl: v.DATABASE_URL,
    db: {
      poolMax: v.DB_POOL_MAX,
      connectTimeoutMs: v.DB_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: v.DB_IDLE_TIMEOUT_MS,
      statementTimeoutMs: v.DB_STATEMENT_TIMEOUT_MS,
      wsProxy: v.DB_WS_PROXY || undefined,
      queryPath: v.DB_QUERY_PATH,
      httpEndpoint: v.DB_HTTP_ENDPOINT || undefined,
    },
    maxBodyBytes: v.MAX_BODY_BYTES,
    nPlusOne: { threshold: v.N_PLUS_ONE_THRESHOLD, action: v.N_PLUS_ONE_ACTION },
    budget: {
      defaultMs: Math.min(v.REQUEST_TIMEOUT_MS, v.REQUEST_TIMEOUT_MAX_MS),
      maxMs: v.REQUEST_TIMEOUT_MAX_MS,
      backgroundMs: v.BACKGROUND_TIMEOUT_MS,
    },
    coalescer: {
      ttlMs: v.COALESCER_TTL_MS,
      notFoundTtlMs: v.COALESCER_NOT_FOUND_TTL_MS,
      loadTimeoutMs: v.COALESCER_LOAD_TIMEOUT_MS,
    },
    insurance: {
      baseUrl: v.INSURANCE_API_URL,
      apiKey: v.INSURANCE_API_KEY || undefined,
      timeoutMs: v.INSURANCE_TIMEOUT_MS,
      maxAttempts: v.INSURANCE_MAX_ATTEMPTS,
    },
    breaker: {
      insuranceName: v.INSURANCE_BREAKER_NAME,
      scope: v.BREAKER_SCOPE,
      failureThreshold: v.BREAKER_FAILURE_THRESHOLD,
      openMs: v.BREAKER_OPEN_MS,
      halfOpenProbes: v.BREAKER_HALF_OPEN_PROBES,
      viewTtlMs: v.BREAKER_VIEW_TTL_MS,
    },
    tracing: {
      endpoint: v.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
      headers: v.OTEL_EXPORTER_OTLP_HEADERS,
      sampleRatio: v.OTEL_SAMPLE_RATIO,
      serviceName: "clinic-edge",
    },
    idempotency: { ttlSeconds: v.IDEMPOTENCY_TTL_SECONDS, waitMs: v.IDEMPOTENCY_WAIT_MS },
    metrics: {
      endpoint: v.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
      headers: v.OTEL_EXPORTER_OTLP_HEADERS,
      intervalMs: v.OTEL_METRICS_EXPORT_INTERVAL_MS,
      serviceName: "clinic-edge",
    },
    rateLimit: {
      requests: v.RATE_LIMIT_REQUESTS,
      writeRequests: v.RATE_LIMIT_WRITE_REQUESTS,
      windowMs: v.RATE_LIMIT_WINDOW_MS,
      timeoutMs: v.RATE_LIMIT_TIMEOUT_MS,
    },
    rateLimitLease: {
      max: v.RATE_LIMIT_LEASE_MAX,
      ms: Math.min(v.RATE_LIMIT_LEASE_MS, v.RATE_LIMIT_WINDOW_MS),
    },
    maxInflightRequests: v.MAX_INFLIGHT_REQUESTS,
    maxUpcomingAppointments: v.MAX_UPCOMING_APPOINTMENTS,
    insuranceMemberIdChangesPerDay: v.INSURANCE_MEMBER_ID_CHANGES_PER_DAY,
    cors: {
      allowedOrigins: v.CORS_ALLOWED_ORIGINS,
      credentials: v.CORS_ALLOW_CREDENTIALS === "true",
      maxAgeSeconds: v.CORS_MAX_AGE_SECONDS,
    },
    auth: {
      secret: v.AUTH_JWT_SECRET ? new TextEncoder().encode(v.AUTH_JWT_SECRET) : undefined,
      jwksUrl: v.AUTH_JWKS_URL || undefined,
      issuer: v.AUTH_ISSUER || undefined,
      audience: v.AUTH_AUDIENCE || undefined,
      roleClaim: v.AUTH_ROLE_CLAIM,
      jwksCooldownMs: v.AUTH_JWKS_COOLDOWN_MS,
      tokenTypes: v.AUTH_TOKEN_TYPES.map((t) => t.replace(/^application\//, "")),
      maxTokenLifetimeS: v.AUTH_MAX_TOKEN_LIFETIME_S,
    },
    metricsToken: v.METRICS_TOKEN || undefined,
    debugEndpoints: v.DEBUG_ENDPOINTS === "true",
  };
  cache.set(env, config);
  return config;
}
