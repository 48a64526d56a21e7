/**
 * What every lab variant runs against: a migrated, seeded scratch database (embedded Postgres by
 * default, a scratch database on DATABASE_URL's server when it is set) behind the local bridge and
 * /sql endpoint, the insurer's stand-in, the lab's Postgres exporter stand-in, and the lab Worker
 * (lab/worker/index.ts) bundled once; then, per variant, a fresh collector, Prometheus and workerd.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from "miniflare";
import pg from "pg";
import { startInsurance, type InsuranceStandIn } from "../dev/insurance.ts";
import { startCollector, type RunningCollector } from "../dev/otlp-collector.ts";
import { seedIfEmpty } from "../dev/seed.ts";
import { bundleWorker } from "../bench/lib/bundle.ts";
import { runtimeOutput } from "../bench/lib/runtime-log.ts";
import {
  ROOT,
  adminHeaders,
  freePort,
  localServices,
  scratchDatabase,
  wranglerSettings,
  type WranglerSettingsT,
} from "../bench/lib/stack.ts";
import { startPgExporter, type PgExporter } from "./pg-exporter.ts";
import { startPrometheus, type RunningPrometheus } from "./prometheus.ts";

/** A database the Worker is pointed at: its bindings, a connection of the lab's own, its exporter. */
export interface DbTarget {
  url: string;
  bindings: Record<string, string>;
  monitor: pg.Client;
  exporter: PgExporter;
}

export interface LabStack {
  /** Where the database is, for the report (no password). */
  where: string;
  target: DbTarget;
  insurance: InsuranceStandIn;
  auth: { authorization: string };
  /** The lab Worker's bundle. */
  bundle: string;
  settings: WranglerSettingsT;
  close(): Promise<void>;
}

const INSURANCE_KEY = "lab-insurance-key";

/** The target's bindings, monitor and exporter for a database reached through `services`. */
export async function dbTarget(url: string, bindings: Record<string, string>): Promise<DbTarget> {
  const monitor = new pg.Client({ connectionString: url, application_name: "clinic-edge-lab" });
  await monitor.connect();
  const exporter = await startPgExporter(url);
  return { url, bindings, monitor, exporter };
}

export async function closeTarget(target: DbTarget): Promise<void> {
  await target.exporter.close();
  await target.monitor.end();
}

export async function startLabStack(log: (line: string) => void): Promise<LabStack> {
  const cleanups: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse())
      await cleanup().catch((err: unknown) => log(`teardown step failed: ${String(err)}`));
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), "clinic-edge-lab-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // clinic-edge's app plus the lab routes.
    const bundle = await bundleWorker(join(ROOT, "lab", "worker", "index.ts"), dir);
    const db = await scratchDatabase("lab");
    cleanups.push(() => db.drop());
    await seedIfEmpty(db.url);
    // Idle /sql connections close soon, so each backend reports its table reads promptly (cache-stampede).
    const services = await localServices(db.url, { sqlIdleTimeoutMs: 100 });
    cleanups.push(() => services.close());
    const target = await dbTarget(db.url, services.bindings);
    cleanups.push(() => closeTarget(target));
    const insurance = await startInsurance({ apiKey: INSURANCE_KEY });
    cleanups.push(() => insurance.close());
    return {
      where: db.where,
      target,
      insurance,
      auth: await adminHeaders(),
      bundle,
      settings: wranglerSettings(),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A variant's own collector and the Prometheus scraping it and the target's exporter. */
export interface Observers {
  collector: RunningCollector;
  prometheus: RunningPrometheus;
  close(): Promise<void>;
}

/**
 * Starts them and waits (bounded) until Prometheus has scraped both targets: its target discovery
 * hands scrape loops their targets only every few seconds, so the lab starts the next variant's
 * observers while the current variant runs (runIncident).
 */
export async function startObservers(target: DbTarget): Promise<Observers> {
  const collector = await startCollector();
  try {
    const prometheus = await startPrometheus({ fleet: new URL(collector.url).host, postgres: target.exporter.target });
    const close = async (): Promise<void> => {
      await prometheus.stop().catch(() => undefined);
      await collector.close().catch(() => undefined);
    };
    for (let i = 0; ; i++) {
      const up = await prometheus.value("count(up == 1)").catch(() => Number.NaN);
      if (up === 2) break;
      if (i >= 60) {
        await close();
        throw new Error("Prometheus did not scrape the collector and the exporter within 30 s");
      }
      await sleep(500);
    }
    return { collector, prometheus, close };
  } catch (err) {
    await collector.close();
    throw err;
  }
}

/** One variant's observers and Worker. */
export interface VariantStack extends Observers {
  base: string;
}

/** A lab Worker on a workerd of its own. */
export interface LabWorker {
  base: string;
  close(): Promise<void>;
}

/**
 * The lab Worker on its own workerd (a new isolate: every per-isolate counter starts at zero),
 * pushing its metrics to `collector`, with `bindings` last. Several may push to one collector (two
 * versions side by side): the collector sums the instances, as a fleet's would be.
 */
export async function startLabWorker(
  stack: LabStack,
  target: DbTarget,
  bindings: Record<string, string>,
  collector: RunningCollector,
): Promise<LabWorker> {
  const port = await freePort();
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      name: "clinic-edge-lab",
      modules: true,
      scriptPath: stack.bundle,
      modulesRoot: join(stack.bundle, ".."),
      compatibilityDate: stack.settings.compatibilityDate,
      // unsafe_module: the lab Worker's stand-in for a deploy resets every Durable Object (lab/worker/deploy.ts).
      compatibilityFlags: [...stack.settings.compatibilityFlags, "unsafe_module"],
      durableObjects: stack.settings.durableObjects,
      bindings: {
        ...stack.settings.bindings,
        ...target.bindings,
        INSURANCE_API_URL: stack.insurance.url,
        INSURANCE_API_KEY: INSURANCE_KEY,
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_METRICS_EXPORT_INTERVAL_MS: "1000",
        OTEL_SAMPLE_RATIO: "0",
        ...bindings,
      },
      host: "127.0.0.1",
      port,
      cf: false,
      log: new Log(LogLevel.WARN),
      ...runtimeOutput({ echo: "none" }),
    }),
  );
  try {
    await mf.ready;
  } catch (err) {
    await mf.dispose().catch(() => undefined);
    throw err;
  }
  return { base: `http://127.0.0.1:${port}`, close: () => mf.dispose() };
}

/** A variant's Worker (startLabWorker) on `observers`; closing it closes the observers too. */
export async function startVariantStack(
  stack: LabStack,
  target: DbTarget,
  bindings: Record<string, string>,
  observers: Observers,
): Promise<VariantStack> {
  let worker: LabWorker;
  try {
    worker = await startLabWorker(stack, target, bindings, observers.collector);
  } catch (err) {
    await observers.close();
    throw err;
  }
  const close = async (): Promise<void> => {
    await worker.close().catch(() => undefined);
    await observers.close();
  };
  return { base: worker.base, collector: observers.collector, prometheus: observers.prometheus, close };
}
