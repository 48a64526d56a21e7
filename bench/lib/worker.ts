/**
 * The stack a Miniflare bench runs against, built and torn down in one call: a scratch database
 * (migrated and seeded), the local services in front of it, a monitor connection, the seeded
 * patients' ids, and the built Worker on workerd, started on the first `configure()`; and
 * startPlainWorker() for a Worker that is not clinic-edge (workerd's floor, a counter-example).
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions, type V4MiniflareOptions } from "miniflare";
import pg from "pg";
import { seedIfEmpty } from "../../dev/seed.ts";
import { type RuntimeOutputOptions, runtimeOutput } from "./runtime-log.ts";
import {
  BUILT_WORKER,
  type LocalServices,
  adminHeaders,
  freePort,
  localServices,
  scratchDatabase,
  wranglerSettings,
} from "./stack.ts";

export interface WorkerStack {
  databaseUrl: string;
  /** Where the database is, for the report (Database.where). */
  where: string;
  /** The bridge and the /sql endpoint the Worker reaches the database through (their wire counters). */
  services: LocalServices;
  /** A connection of the bench's own to the scratch database. */
  monitor: pg.Client;
  /** Up to 200 seeded patients' ids (none with `seed: false`). */
  patients: string[];
  /** The Worker's origin, `http://127.0.0.1:<port>` (known before it starts). */
  base: string;
  /** The admin bearer token header every request carries. */
  auth: { authorization: string };
  /**
   * Starts the Worker, or restarts it (a new isolate), with `bindings` over wrangler.toml's and the
   * local services'.
   */
  configure(bindings: Record<string, string>, scriptPath?: string): Promise<void>;
  /**
   * A bench's own Worker beside clinic-edge (startPlainWorker()), with wrangler.toml's compatibility
   * settings and vars and the local services' bindings under `bindings`, stopped with the stack;
   * its origin.
   */
  startSideWorker(scriptPath: string, bindings: Record<string, string>, output?: RuntimeOutputOptions): Promise<string>;
  /** Teardown to run when the bench ends, before the stack's own (last registered, first run). */
  defer(cleanup: () => Promise<void>): void;
}

/** `onGc`, `onLine`, `echo`: what becomes of the Worker's workerd output (runtimeOutput()). */
export interface WorkerStackOptions extends RuntimeOutputOptions {
  /** The Worker's bundle when not dist/index.js (`npm run build`). */
  scriptPath?: string;
  /** Seed the database with dev/seed.ts' data (default true). */
  seed?: boolean;
  /** The embedded Postgres' log as it comes (ScratchDatabaseOptions.log). */
  postgresLog?: (text: string) => void;
  /** The database this far away (DEV_DB_RTT_MS): the local services add the round trip per exchange. */
  rttMs?: number;
}

/**
 * What every bench Worker gets: loopback only, no request for Cloudflare's `cf` object (it needs
 * the internet), Miniflare's own warnings, and workerd's output sorted (runtimeOutput()).
 */
function local(port: number, output: RuntimeOutputOptions) {
  return { host: "127.0.0.1", port, cf: false, log: new Log(LogLevel.WARN), ...runtimeOutput(output) };
}

/** Builds the stack, hands it to `run`, and tears it all down however `run` ends. */
export async function withWorkerStack<T>(
  label: string,
  run: (stack: WorkerStack) => Promise<T>,
  options: WorkerStackOptions = {},
): Promise<T> {
  const script = options.scriptPath ?? BUILT_WORKER;
  if (!existsSync(script))
    throw new Error(
      options.scriptPath ? `${script} is missing` : "dist/index.js is missing: run `npm run build` first",
    );
  const cleanups: Array<() => Promise<void>> = [];
  const defer = (cleanup: () => Promise<void>): void => void cleanups.unshift(cleanup);
  try {
    const db = await scratchDatabase(label, { log: options.postgresLog });
    defer(() => db.drop());
    if (options.seed ?? true) await seedIfEmpty(db.url);
    const services = await localServices(db.url, { rttMs: options.rttMs });
    defer(() => services.close());
    const monitor = new pg.Client({ connectionString: db.url, application_name: "clinic-edge-bench" });
    await monitor.connect();
    defer(() => monitor.end());
    const patients = (await monitor.query<{ id: string }>("SELECT id FROM patients ORDER BY id LIMIT 200")).rows.map(
      (r) => r.id,
    );

    const settings = wranglerSettings();
    const port = await freePort();
    const inspectorPort = process.env.BENCH_INSPECTOR_PORT ? Number(process.env.BENCH_INSPECTOR_PORT) : undefined;
    const worker = (bindings: Record<string, string>, scriptPath: string): V4MiniflareOptions => ({
      name: "clinic-edge",
      modules: true,
      scriptPath,
      // Module names relative to the bundle: a bundle outside the repository (a bench's temp dir) gets no "../" names.
      modulesRoot: dirname(scriptPath),
      compatibilityDate: settings.compatibilityDate,
      compatibilityFlags: settings.compatibilityFlags,
      durableObjects: settings.durableObjects,
      bindings: { ...settings.bindings, ...services.bindings, ...bindings },
      ...local(port, options),
      // BENCH_INSPECTOR_PORT=9230: profile the bench's Worker (`npm run profile:cpu -- --inspector 127.0.0.1:9230`).
      ...(inspectorPort ? { inspectorPort } : {}),
    });
    let mf: Miniflare | undefined;
    const configure = async (bindings: Record<string, string>, scriptPath = script): Promise<void> => {
      if (mf) {
        await mf.setOptions(convertV4MiniflareOptions(worker(bindings, scriptPath)));
        return;
      }
      const started = new Miniflare(convertV4MiniflareOptions(worker(bindings, scriptPath)));
      mf = started;
      defer(() => started.dispose());
      await started.ready;
    };
    const startSideWorker = async (
      scriptPath: string,
      bindings: Record<string, string>,
      output: RuntimeOutputOptions = {},
    ): Promise<string> => {
      const side = await startPlainWorker({
        scriptPath,
        compatibilityDate: settings.compatibilityDate,
        compatibilityFlags: settings.compatibilityFlags,
        bindings: { ...settings.bindings, ...services.bindings, ...bindings },
        output,
      });
      defer(() => side.dispose());
      return side.url;
    };
    return await run({
      databaseUrl: db.url,
      where: db.where,
      services,
      monitor,
      patients,
      base: `http://127.0.0.1:${port}`,
      auth: await adminHeaders(),
      configure,
      startSideWorker,
      defer,
    });
  } finally {
    // Each step runs even when one before it failed: a workerd or a Postgres left behind outlives the bench.
    for (const cleanup of cleanups) {
      await cleanup().catch((err: unknown) =>
        console.error(`[bench] teardown step failed: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
  }
}

export interface PlainWorkerOptions {
  /** The Worker's module: a bundle on disk, or its source. */
  scriptPath?: string;
  script?: string;
  compatibilityDate: string;
  compatibilityFlags?: string[];
  bindings?: Record<string, string>;
  output?: RuntimeOutputOptions;
}

/** A Worker that is not clinic-edge, with no Durable Objects, on a workerd of its own (a free port). */
export async function startPlainWorker(
  options: PlainWorkerOptions,
): Promise<{ url: string; dispose(): Promise<void> }> {
  const source = options.scriptPath
    ? { scriptPath: options.scriptPath, modulesRoot: dirname(options.scriptPath) }
    : { script: options.script ?? "" };
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      ...source,
      compatibilityDate: options.compatibilityDate,
      compatibilityFlags: options.compatibilityFlags ?? [],
      bindings: options.bindings ?? {},
      ...local(0, options.output ?? {}),
    }),
  );
  try {
    return { url: (await mf.ready).origin, dispose: () => mf.dispose() };
  } catch (err) {
    await mf.dispose();
    throw err;
  }
}
