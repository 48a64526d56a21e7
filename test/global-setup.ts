/**
 * Runs in Node before the workerd tests: a real Postgres (embedded by default, or a scratch database
 * on the server DATABASE_URL names), migrated, behind the same WebSocket bridge and local HTTP
 * /sql endpoint `npm run dev` uses. The Worker under test gets the URL and both addresses through
 * `provide()`.
 */
import type { TestProject } from "vitest/node";
import { startBridge } from "../dev/bridge.ts";
import { startInsurance } from "../dev/insurance.ts";
import { startJwksServer } from "../dev/jwks-server.ts";
import { startCollector } from "../dev/otlp-collector.ts";
import { startSqlEndpoint } from "../dev/sql-endpoint.ts";
import { migrateDatabase } from "../dev/migrate.ts";
import { startOutageSwitch } from "../dev/outage-switch.ts";
import { startThrowawayPostgres } from "../dev/postgres.ts";
import { createScratchDatabase } from "../dev/scratch.ts";
import { rttFromEnv } from "../dev/latency.ts";

const SCRATCH_PREFIX = "clinic_edge_test_";
/** The distance of the "distant" stand-ins, which prove that DEV_DB_RTT_MS costs what it says. */
const DISTANT_RTT_MS = 40;
/**
 * The "lagging" /sql endpoint's round trip: half of it before the statements, half after their
 * COMMIT, so a deadline between the halves loses the answer of a write that committed.
 */
const LAGGING_RTT_MS = 1_000;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];
  let url: string;
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl) {
    // A real server shared with others: work in a database of our own, dropped at the end.
    const scratch = await createScratchDatabase(serverUrl, SCRATCH_PREFIX);
    url = scratch.url;
    cleanups.push(() => scratch.drop());
  } else {
    const postgres = await startThrowawayPostgres({ label: "pg", database: "clinic_test" });
    url = postgres.url;
    cleanups.push(() => postgres.stop());
  }
  await migrateDatabase(url);

  const { hostname, port } = new URL(url);
  const target = `${hostname}:${port || "5432"}`;
  // DEV_DB_RTT_MS=20 npm test runs the whole suite with the database that far away.
  const rttMs = rttFromEnv();
  const bridge = await startBridge({ allowedTargets: [target], rttMs });
  cleanups.unshift(() => bridge.close());

  // Short-lived warm connections: a backend reports its table statistics when it exits, and tests
  // that count reads in Postgres itself (pg_stat_user_tables) must not wait for the 10 s idle flush.
  const sqlEndpoint = await startSqlEndpoint({ databaseUrl: url, idleTimeoutMs: 200, rttMs });
  cleanups.unshift(() => sqlEndpoint.close());
  const distantBridge = await startBridge({ allowedTargets: [target], rttMs: DISTANT_RTT_MS });
  cleanups.unshift(() => distantBridge.close());
  const distantSqlEndpoint = await startSqlEndpoint({ databaseUrl: url, rttMs: DISTANT_RTT_MS });
  cleanups.unshift(() => distantSqlEndpoint.close());
  project.provide("distant", {
    rttMs: DISTANT_RTT_MS,
    wsProxy: distantBridge.address,
    sqlEndpoint: distantSqlEndpoint.url,
  });
  const laggingSqlEndpoint = await startSqlEndpoint({ databaseUrl: url, rttMs: LAGGING_RTT_MS });
  cleanups.unshift(() => laggingSqlEndpoint.close());
  project.provide("lagging", { rttMs: LAGGING_RTT_MS, sqlEndpoint: laggingSqlEndpoint.url });
  // Proves the Worker's own server-side limit: this one lets a statement run on after its client left.
  const endpointWithoutCancel = await startSqlEndpoint({ databaseUrl: url, cancelOnDisconnect: false });
  cleanups.unshift(() => endpointWithoutCancel.close());

  // The insurer's stand-in: tests pick their behaviour by member id (see dev/insurance.ts), never
  // through its shared switches, so test files running in parallel cannot disturb each other.
  const insuranceKey = `test-${crypto.randomUUID()}`;
  const insurance = await startInsurance({ apiKey: insuranceKey });
  cleanups.unshift(() => insurance.close());
  project.provide("insuranceUrl", insurance.url);
  project.provide("insuranceKey", insuranceKey);

  // Where the Worker and its Durable Objects export spans. The test config samples no new trace
  // (OTEL_SAMPLE_RATIO=0), so only requests that arrive with a sampled traceparent (the tracing
  // tests) are recorded and exported; every other test runs with tracing idle.
  const collector = await startCollector();
  cleanups.unshift(() => collector.close());
  project.provide("otlpEndpoint", collector.url);
  // A collector that, like a hosted backend, refuses exports without its API key.
  const otlpKey = `otlp-${crypto.randomUUID()}`;
  const keyedCollector = await startCollector({ requireHeaders: { "x-api-key": otlpKey } });
  cleanups.unshift(() => keyedCollector.close());
  project.provide("keyedOtlp", { endpoint: keyedCollector.url, apiKey: otlpKey });

  // The database as the fault tests see it: Postgres behind a switch they can turn off and on,
  // reached through a bridge and a /sql endpoint of its own so other test files never notice.
  const outage = await startOutageSwitch({ host: hostname, port: Number(port || "5432") });
  cleanups.unshift(() => outage.close());
  const outageUrl = new URL(url);
  outageUrl.host = outage.address;
  const outageBridge = await startBridge({ allowedTargets: [outage.address] });
  cleanups.unshift(() => outageBridge.close());
  const outageSqlEndpoint = await startSqlEndpoint({ databaseUrl: outageUrl.toString(), idleTimeoutMs: 200 });
  cleanups.unshift(() => outageSqlEndpoint.close());
  project.provide("outage", {
    controlUrl: outage.controlUrl,
    databaseUrl: outageUrl.toString(),
    wsProxy: outageBridge.address,
    sqlEndpoint: outageSqlEndpoint.url,
  });
  // Bearer tokens: a random HS256 secret per run, and an identity provider's key endpoint whose keys
  // the tests can rotate (dev/jwks-server.ts).
  project.provide("authSecret", `test-${crypto.randomUUID()}-${crypto.randomUUID()}`);
  const jwks = await startJwksServer();
  cleanups.unshift(() => jwks.close());
  project.provide("jwksServer", jwks.url);

  project.provide("databaseUrl", url);
  project.provide("wsProxy", bridge.address);
  project.provide("sqlEndpoint", sqlEndpoint.url);
  project.provide("sqlEndpointWithoutCancel", endpointWithoutCancel.url);

  return async () => {
    for (const cleanup of cleanups) await cleanup();
  };
}
