import { z } from "zod";
import { parseOtlpHeaders } from "../../core/telemetry/otlp.ts";
import { CHECKED_SETTINGS } from "./safety.ts";
import {
  HTTP_URL,
  commaList,
  documentationOf,
  documented,
  int,
  oneOf,
  optionalUrl,
  ratio,
  section,
  text,
} from "./variables.ts";

/**
 * Every variable the Worker reads, in one place: its validator and its documentation are built from
 * the same arguments, so docs/configuration.md (generated from this file by `npm run docs:config`)
 * cannot say another range or default than the one enforced. wrangler.toml [vars] repeats the
 * defaults for `wrangler dev` and deploys; a test checks they agree.
 */

/** A web origin as browsers send it in `Origin`: scheme, host, optional port, nothing else. */
const ORIGIN = /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i;

const shape = {
  ...section("Database", {
    DATABASE_URL: documented(
      z.string().url(),
      { type: "URL", default: undefined, range: undefined },
      {
        secret: true,
        description:
          "The Postgres connection string (Neon: the pooled `-pooler` endpoint). `npm run dev` and the tests set it.",
      },
    ),
    DB_QUERY_PATH: oneOf(["http", "ws"], "http", {
      description:
        "Where single statements and non-interactive batches go: `http` (Neon's /sql endpoint: one round trip, no connection setup) or `ws` (this request's pool). Interactive transactions always use WebSockets.",
    }),
    DB_POOL_MAX: int(1, 5, 5, {
      description:
        "Connections one request's pool may open. At most 5: a Worker request may hold 6 outgoing connections at once.",
    }),
    DB_CONNECT_TIMEOUT_MS: int(100, 60_000, 5_000, {
      description: "How long opening a WebSocket connection may take before the request answers 503.",
    }),
    DB_IDLE_TIMEOUT_MS: int(0, 60_000, 1_000, {
      description: "How long an idle connection stays in the request's pool.",
    }),
    DB_STATEMENT_TIMEOUT_MS: int(100, 600_000, 10_000, {
      description: "Server-side ceiling for any one statement; requests get tighter limits from their deadline.",
    }),
    DB_WS_PROXY: text("", {
      description:
        "Local Postgres only: host:port of the WebSocket→TCP bridge (dev/bridge.ts). Empty in production, where the driver speaks wss:// to Neon.",
    }),
    DB_HTTP_ENDPOINT: optionalUrl({
      description:
        "Local Postgres only: the stand-in for Neon's /sql endpoint (dev/sql-endpoint.ts). Empty in production, where the driver derives it from DATABASE_URL.",
    }),
    N_PLUS_ONE_THRESHOLD: int(2, 1_000, 5, {
      description: "The N+1 detector: runs of one SQL shape in one request that count as a loop.",
    }),
    N_PLUS_ONE_ACTION: oneOf(["warn", "fail"], "warn", {
      description:
        "What a detected loop does: `warn` (a log line and db_n_plus_one_total) or `fail` (also answers 500; what the tests use).",
    }),
  }),
  ...section("Requests", {
    MAX_BODY_BYTES: int(1_024, 10_485_760, 65_536, {
      description: "Largest request body; larger ones (declared or streamed) get 413.",
    }),
    REQUEST_TIMEOUT_MS: int(10, 300_000, 10_000, {
      description: "A request's budget when neither the route nor the client (X-Request-Timeout-Ms) asks for less.",
    }),
    REQUEST_TIMEOUT_MAX_MS: int(10, 300_000, 30_000, { description: "The ceiling for any budget, whoever asks." }),
    BACKGROUND_TIMEOUT_MS: int(10, 300_000, 10_000, {
      description: "The budget of each task run after the response (ctx.waitUntil).",
    }),
    DEBUG_ENDPOINTS: oneOf(["true", "false"], "false", {
      description: "`true` serves GET /debug/inflight (what this isolate has in flight, oldest first) to admins.",
    }),
  }),
  ...section("Request coalescing", {
    COALESCER_TTL_MS: int(0, 300_000, 5_000, {
      description: "How long a value loaded by a doctor's Coalescer object is served to later callers.",
    }),
    COALESCER_NOT_FOUND_TTL_MS: int(0, 300_000, 1_000, {
      description: 'The same for "not found", shorter so a new doctor shows up quickly.',
    }),
    COALESCER_LOAD_TIMEOUT_MS: int(10, 60_000, 5_000, {
      description: "The shared load's own budget, whoever is waiting on it.",
    }),
  }),
  ...section("Insurer and circuit breaker", {
    INSURANCE_API_URL: documented(
      HTTP_URL,
      { type: "URL", default: "http://127.0.0.1:54332", range: "http(s)" },
      {
        description:
          "Base URL of the eligibility API. The default is the local stand-in `npm run dev` starts (dev/insurance.ts).",
      },
    ),
    INSURANCE_API_KEY: text("", {
      secret: true,
      description:
        "Sent to the insurer as a bearer token, never logged. Empty: bookings still work, with eligibility `unknown` (and an error log line).",
    }),
    INSURANCE_TIMEOUT_MS: int(10, 60_000, 2_000, {
      description: "One attempt's limit, within the request's deadline.",
    }),
    INSURANCE_MAX_ATTEMPTS: int(1, 5, 2, {
      description: "Attempts per eligibility query, retries included (only safe failures are retried).",
    }),
    INSURANCE_BREAKER_NAME: text(
      "insurance",
      { description: "The Breaker Durable Object's name (idFromName) for the insurer." },
      z.string().regex(/^[\w.:-]{1,64}$/),
      "1–64 of [A-Za-z0-9_.:-]",
    ),
    BREAKER_SCOPE: oneOf(["shared", "isolate"], "shared", {
      description:
        "`shared`: one circuit state for every isolate, held by the Breaker object; `isolate`: each isolate on its own.",
    }),
    BREAKER_FAILURE_THRESHOLD: int(1, 1_000, 5, {
      description: "Consecutive failures (fleet-wide when shared) that open the circuit.",
    }),
    BREAKER_OPEN_MS: int(10, 3_600_000, 30_000, {
      description: "How long an open circuit refuses calls before probes are let through.",
    }),
    BREAKER_HALF_OPEN_PROBES: int(1, 100, 1, {
      description: "Probe calls allowed at once while half-open; all must succeed to close.",
    }),
    BREAKER_VIEW_TTL_MS: int(10, 600_000, 5_000, {
      description:
        "How long an isolate trusts its view of a closed shared circuit before refreshing it in the background.",
    }),
  }),
  ...section("Authentication", {
    AUTH_JWT_SECRET: documented(
      // HMAC-SHA256 wants a key at least as long as its output; a short one could be brute-forced offline from one token.
      z.union([z.literal(""), z.string().min(32)]).default(""),
      { type: "string", default: "", range: "32+ characters" },
      {
        secret: true,
        description:
          "HS256 key for bearer tokens. Empty: no locally signed token is accepted. `npm run dev` makes one up in .data/.",
      },
    ),
    AUTH_JWKS_URL: optionalUrl({
      description:
        "Your identity provider's JWKS (RS256/ES256 keys), cached per isolate and fetched again on an unknown key id.",
    }),
    AUTH_ISSUER: text("", { description: "When set, a token's `iss` must match." }),
    AUTH_AUDIENCE: text("", { description: "When set, a token's `aud` must match." }),
    AUTH_ROLE_CLAIM: text(
      "role",
      { description: "The claim holding admin | doctor | patient." },
      z.string().min(1).max(200),
      "1–200 characters",
    ),
    AUTH_JWKS_COOLDOWN_MS: int(0, 3_600_000, 30_000, {
      description:
        "After a key set download, how long a token with an unknown `kid` waits before it may trigger another.",
    }),
    AUTH_TOKEN_TYPES: documented(
      commaList("JWT,at+jwt", (t) => t.toLowerCase()),
      { type: "string", default: "JWT,at+jwt", range: "comma-separated `typ` values" },
      {
        description:
          "The JOSE `typ` header values a token may carry (case-insensitive; `application/` prefix ignored); a token without one is refused. Empty: no check (refused unless listed in UNSAFE_SETTINGS_ALLOWED).",
      },
    ),
    AUTH_MAX_TOKEN_LIFETIME_S: int(60, 2_592_000, 86_400, {
      description:
        "The longest a token may be valid: `exp` − `iat` (or `exp` − now without `iat`); longer-lived tokens are refused.",
    }),
    METRICS_TOKEN: text("", {
      secret: true,
      description:
        "A bearer token a Prometheus scraper may use for /metrics and nothing else (admin tokens always work there). Empty: admins only.",
    }),
  }),
  ...section("Safety checks", {
    UNSAFE_SETTINGS_ALLOWED: documented(
      commaList().pipe(z.array(z.enum(CHECKED_SETTINGS as [string, ...string[]]))),
      { type: "string", default: "", range: `comma-separated, of: ${CHECKED_SETTINGS.join(", ")}` },
      {
        description:
          "Settings whose production safety check this deployment waives knowingly (see docs/security.md). Any other unsafe setting stops the Worker: every request answers 503 and one log line names the variable.",
      },
    ),
  }),
  ...section("Telemetry", {
    OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl({
      description:
        "OTLP/HTTP collector base URL: spans go to `<endpoint>/v1/traces`, each isolate's metrics to `<endpoint>/v1/metrics`. Empty: nothing recorded or sent.",
    }),
    OTEL_EXPORTER_OTLP_HEADERS: documented(
      z
        .string()
        .default("")
        .transform((value, ctx) => {
          try {
            return parseOtlpHeaders(value);
          } catch {
            // The value is a secret: the issue names the variable only.
            ctx.addIssue({ code: "custom", message: "must be name=value pairs separated by commas" });
            return z.NEVER;
          }
        }),
      { type: "string", default: "", range: "name=value,name=value (values percent-encoded)" },
      { secret: true, description: "Headers for every OTLP export, e.g. a hosted backend's credentials." },
    ),
    OTEL_SAMPLE_RATIO: ratio(1, {
      description: "Share of new traces recorded; an incoming traceparent's sampled flag decides for its trace.",
    }),
    OTEL_METRICS_EXPORT_INTERVAL_MS: int(0, 3_600_000, 10_000, {
      description:
        "Each isolate pushes its /metrics series at most this often, from the waitUntil of the request that finds a push due. 0: after every request.",
    }),
  }),
  ...section("Idempotency", {
    IDEMPOTENCY_TTL_SECONDS: int(60, 30 * 86_400, 86_400, {
      description:
        "How long an outcome is replayed for its Idempotency-Key; then the key may be reused and a bounded sweep deletes the row.",
    }),
    IDEMPOTENCY_WAIT_MS: int(0, 60_000, 2_000, {
      description:
        "How long a retry waits for a first request with its key that is still running before answering 409 + Retry-After.",
    }),
  }),
  ...section("Abuse limits", {
    RATE_LIMIT_REQUESTS: int(0, 100_000, 300, {
      description:
        "Requests one caller (principal, else client IP) may make in any window (sliding, one RateLimiter object per caller). 0: off.",
    }),
    RATE_LIMIT_WRITE_REQUESTS: int(0, 100_000, 60, {
      description: "Of those, writes (POST, PUT, PATCH, DELETE). 0: writes count only against the first limit.",
    }),
    RATE_LIMIT_WINDOW_MS: int(1_000, 3_600_000, 60_000, { description: "The window both limits count over." }),
    RATE_LIMIT_TIMEOUT_MS: int(10, 10_000, 250, {
      description:
        "How long a request waits for the limiter's answer before going on without it (fail open, logged and counted).",
    }),
    RATE_LIMIT_LEASE_MAX: int(1, 1_000, 50, {
      description:
        "Most requests of one caller an isolate may admit from one limiter round trip (a lease; never more than 1/20 of the limit). 1: a round trip per request, exact.",
    }),
    RATE_LIMIT_LEASE_MS: int(10, 60_000, 1_000, {
      description:
        "How long an isolate may spend a lease before asking again (at most the window). A caller can overshoot its limit by at most isolates × lease size.",
    }),
    MAX_UPCOMING_APPOINTMENTS: int(1, 10_000, 20, {
      description:
        "Scheduled appointments ahead one patient may hold; a booking beyond it gets 409 naming `patientId`, so one token cannot fill the doctors' calendars.",
    }),
    INSURANCE_MEMBER_ID_CHANGES_PER_DAY: int(1, 1_000, 3, {
      description:
        "Times a patient may change their own `insuranceMemberId` in any 24 hours; beyond it 429 naming the field, with Retry-After. Admins' changes are recorded but not limited.",
    }),
    MAX_INFLIGHT_REQUESTS: int(0, 100_000, 500, {
      description:
        "Requests one isolate handles at once; more get 503 + Retry-After at once (health checks exempt). 0: no limit.",
    }),
  }),
  ...section("CORS", {
    CORS_ALLOWED_ORIGINS: documented(
      commaList().pipe(
        z.array(z.union([z.literal("*"), z.string().regex(ORIGIN, "must be scheme://host[:port], no path")])),
      ),
      { type: "string", default: "", range: "comma-separated scheme://host[:port], or *" },
      {
        description:
          "Origins allowed to call from a browser (exact match). Empty: no CORS headers at all (same-origin only).",
      },
    ),
    CORS_ALLOW_CREDENTIALS: oneOf(["true", "false"], "false", {
      description: "Let browsers send cookies / Authorization cross-origin. Refused together with `*`.",
    }),
    CORS_MAX_AGE_SECONDS: int(0, 86_400, 600, { description: "How long a browser may cache a preflight's answer." }),
  }),
};

/** Every variable's documentation, in schema order. */
export const VARIABLES = documentationOf(shape);

/** The Worker's variables, parsed once per env object (config/index.ts). */
export const ConfigSchema = z
  .object(shape)
  .refine((v) => !(v.CORS_ALLOW_CREDENTIALS === "true" && v.CORS_ALLOWED_ORIGINS.includes("*")), {
    // Browsers refuse "*" with credentials anyway; echoing any origin instead would hand every site the
    // caller's cookies. Credentials need an explicit list.
    path: ["CORS_ALLOWED_ORIGINS"],
    message: '"*" cannot be combined with CORS_ALLOW_CREDENTIALS=true',
  });
