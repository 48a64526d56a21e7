import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { ensureDocsAssets } from "./dev/docs-assets.ts";

// wrangler.toml's [assets] directory must hold the API reference's script before the Worker loads.
ensureDocsAssets();

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                DATABASE_URL: inject("databaseUrl"),
                DB_WS_PROXY: inject("wsProxy"),
                DB_HTTP_ENDPOINT: inject("sqlEndpoint"),
                INSURANCE_API_URL: inject("insuranceUrl"),
                INSURANCE_API_KEY: inject("insuranceKey"),
                OTEL_EXPORTER_OTLP_ENDPOINT: inject("otlpEndpoint"),
                OTEL_SAMPLE_RATIO: "0",
                // Both token kinds at once: HS256 with the secret, ES256 from the key server.
                AUTH_JWT_SECRET: inject("authSecret"),
                AUTH_JWKS_URL: `${inject("jwksServer")}/sets/default/jwks.json`,
                AUTH_ISSUER: "https://auth.clinic-edge.test/",
                AUTH_AUDIENCE: "clinic-edge",
                // A rotated key is picked up by the next token that names it.
                AUTH_JWKS_COOLDOWN_MS: "0",
                // ...which production refuses (a key set download per forged kid): waived here, knowingly.
                UNSAFE_SETTINGS_ALLOWED: "AUTH_JWKS_COOLDOWN_MS",
                // A query loop anywhere in the suite fails the test that hit it.
                N_PLUS_ONE_ACTION: "fail",
                // Every test request comes from one "anonymous" caller and many run at once: the
                // limits tests turn these on for their own requests (test/integration/security/limits.test.ts).
                RATE_LIMIT_REQUESTS: "0",
                RATE_LIMIT_WRITE_REQUESTS: "0",
                MAX_INFLIGHT_REQUESTS: "0",
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/integration/**/*.test.ts", "test/unit/**/*.test.ts"],
          globalSetup: ["./test/global-setup.ts"],
          testTimeout: 30_000,
          // The fuzz test's budget (test/integration/security/fuzz.test.ts): at most FUZZ_RUNS cases per
          // operation, FUZZ_SECONDS for the whole file, so CI stays bounded; raise both to fuzz longer, and
          // change FUZZ_SEED to explore other cases (CI's seed is fixed, so a failure replays).
          provide: {
            fuzzRuns: Number(process.env.FUZZ_RUNS ?? 1_000),
            fuzzSeconds: Number(process.env.FUZZ_SECONDS ?? 60),
            fuzzSeed: Number(process.env.FUZZ_SEED ?? 20_261_128),
            // A failure prints its fast-check path: FUZZ_PATH with the same FUZZ_SEED replays that case alone.
            fuzzPath: process.env.FUZZ_PATH ?? "",
          },
        },
      },
      {
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
        },
      },
    ],
  },
});
