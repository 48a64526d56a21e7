declare module "vitest" {
  interface ProvidedContext {
    /** The test database (embedded, or a scratch database on DATABASE_URL's server). */
    databaseUrl: string;
    /** host:port of the WebSocket bridge in front of it. */
    wsProxy: string;
    /** URL of the local stand-in for Neon's HTTP /sql endpoint (dev/sql-endpoint.ts). */
    sqlEndpoint: string;
    /** The same, but it does not cancel a statement whose client went away. */
    sqlEndpointWithoutCancel: string;
    /** A bridge and /sql endpoint in front of the same database, `rttMs` away (DEV_DB_RTT_MS). */
    distant: { rttMs: number; wsProxy: string; sqlEndpoint: string };
    /** A /sql endpoint rttMs away, half before the statements and half after their COMMIT. */
    lagging: { rttMs: number; sqlEndpoint: string };
    /** URL of the insurer's stand-in (dev/insurance.ts); its /__stats counts requests per member id. */
    insuranceUrl: string;
    /** The API key it expects. */
    insuranceKey: string;
    /** URL of the in-process OTLP/HTTP collector (dev/otlp-collector.ts); GET /spans?traceId= lists what arrived. */
    otlpEndpoint: string;
    /** A collector that refuses exports without `x-api-key: <apiKey>`; GET /v1/received counts what it took and refused. */
    keyedOtlp: { endpoint: string; apiKey: string };
    /**
     * The same database behind a switch the fault tests turn off and on (dev/outage-switch.ts:
     * POST <controlUrl>/down|/up), with its own bridge and /sql endpoint.
     */
    outage: { controlUrl: string; databaseUrl: string; wsProxy: string; sqlEndpoint: string };
    /** The HS256 secret the Worker under test verifies with (AUTH_JWT_SECRET). */
    authSecret: string;
    /** Base URL of the key server (dev/jwks-server.ts); the Worker's AUTH_JWKS_URL is its "default" set. */
    jwksServer: string;
    /** Fuzz cases per operation (FUZZ_RUNS). */
    fuzzRuns: number;
    /** The fuzz's time budget for the whole file, in seconds (FUZZ_SECONDS), shared by the operations. */
    fuzzSeconds: number;
    /** The fuzz's fast-check seed (FUZZ_SEED). */
    fuzzSeed: number;
    /** A fast-check path to replay (FUZZ_PATH, printed by a failure); "" fuzzes within the budget. */
    fuzzPath: string;
  }
}

export {};
