/**
 * The stack a Miniflare bench runs against, built and torn down in one call: a scratch database
 * (migrated and seeded), the local services in front of it, a monitor connection, the seeded
 * patients' ids, and the built Worker on workerd, started on the first `configure()`.
 */
import { existsSync } from "node:fs";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions, type V4MiniflareOptions } from "miniflare";
import pg from "pg";
import { seedIfEmpty } from "../../dev/seed.ts";
import type { GcPause } from "./gc.ts";
import { runtimeOutput } from "./runtime-log.ts";
import { BUILT_WORKER, adminHeaders, freePort, localServices, scratchDatabase, wranglerSettings } from "./stack.ts";

export interface WorkerStack {
  databaseUrl: string;
  /** A connection of the bench's own to the scratch database. */
  monitor: pg.Client;
  /** Up to 200 seeded patients' ids. */
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
  /** Teardown to run when the bench ends, before the stack's own (last registered, first run). */
  defer(cleanup: () => Promise<void>): void;
}

export interface WorkerStackOptions {
  /** Every collection of the Worker's workerd, as V8 reports it (`--trace-gc`: see gcTracing()). */
  onGc?: (pause: GcPause) => void;
}

/** Builds the stack, hands it to `run`, and tears it all down however `run` ends. */
export async function withWorkerStack<T>(
  label: string,
  run: (stack: WorkerStack) => Promise<T>,
  options: WorkerStackOptions = {},
): Promise<T> {
  if (!existsSync(BUILT_WORKER)) throw new Error("dist/index.js is missing: run `npm run build` first");
  const cleanups: Array<() => Promise<void>> = [];
  const defer = (cleanup: () => Promise<void>): void => void cleanups.unshift(cleanup);
  try {
    const db = await scratchDatabase(label);
    defer(() => db.drop());
    await seedIfEmpty(db.url);
    const services = await localServices(db.url);
    defer(() => services.close());
    const monitor = new pg.Client({ connectionString: db.url, application_name: "clinic-edge-bench" });
    await monitor.connect();
    defer(() => monitor.end());
    const patients = (await monitor.query<{ id: string }>("SELECT id FROM patients ORDER BY id LIMIT 200")).rows.map((r) => r.id);

    const settings = wranglerSettings();
    const port = await freePort();
    const inspectorPort = process.env.BENCH_INSPECTOR_PORT ? Number(process.env.BENCH_INSPECTOR_PORT) : undefined;
    const worker = (bindings: Record<string, string>, scriptPath: string): V4MiniflareOptions => ({
      name: "clinic-edge",
      modules: true,
      scriptPath,
      compatibilityDate: settings.compatibilityDate,
      compatibilityFlags: settings.compatibilityFlags,
      durableObjects: settings.durableObjects,
      bindings: { ...settings.bindings, ...services.bindings, ...bindings },
      host: "127.0.0.1",
      port,
      // No request for Cloudflare's `cf` object (it needs the internet).
      cf: false,
      log: new Log(LogLevel.WARN),
      ...runtimeOutput(options.onGc),
      // BENCH_INSPECTOR_PORT=9230: profile the bench's Worker (`npm run profile:cpu -- --inspector 127.0.0.1:9230`).
      ...(inspectorPort ? { inspectorPort } : {}),
    });
    let mf: Miniflare | undefined;
    const configure = async (bindings: Record<string, string>, scriptPath = BUILT_WORKER): Promise<void> => {
      if (mf) {
        await mf.setOptions(convertV4MiniflareOptions(worker(bindings, scriptPath)));
        return;
      }
      const started = new Miniflare(convertV4MiniflareOptions(worker(bindings, scriptPath)));
      mf = started;
      defer(() => started.dispose());
      await started.ready;
    };
    return await run({
      databaseUrl: db.url,
      monitor,
      patients,
      base: `http://127.0.0.1:${port}`,
      auth: await adminHeaders(),
      configure,
      defer,
    });
  } finally {
    for (const cleanup of cleanups) await cleanup();
  }
}
