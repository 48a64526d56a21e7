/**
 * `npm run bench:stampede [-- --requests 1000 --isolates 3]`: a cache stampede on one cold key,
 * spread over several isolates, for three strategies side by side:
 *
 *   none         every request loads availability from Postgres itself
 *   isolate      the seed's singleflight, per isolate (requests of one isolate share a load)
 *   clinic-edge  the real Worker: one Coalescer Durable Object per doctor for every isolate
 *
 * Each strategy runs as `--isolates` separate Workers on one workerd (Miniflare), the three
 * clinic-edge ones bound to the same Durable Object namespace; `--requests` requests for the same
 * (doctor, day) are fired at once, round-robin over them. Postgres reads are counted by Postgres
 * (scans of doctor_schedules in pg_stat_user_tables, which the availability query reads exactly
 * once), not by our code. Needs `npm run build` first (dist/index.js).
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions, type V4WorkerOptions } from "miniflare";
import pg from "pg";
import { coldDoctor, settledScans as reads } from "./lib/cold-key.ts";
import { StatusTally, refuseOnFailures } from "./lib/failures.ts";
import {
  BUILT_WORKER,
  ROOT,
  adminHeaders,
  localServices,
  percentile,
  scratchDatabase,
  wranglerSettings,
} from "./lib/stack.ts";

type Strategy = "none" | "isolate" | "clinic-edge";

interface Result {
  strategy: Strategy;
  reads: number;
  ok: number;
  errors: number;
  distinctAnswers: number;
  p50: number;
  p99: number;
}

function options(): { requests: number; isolates: number } {
  const { values } = parseArgs({
    options: { requests: { type: "string", default: "1000" }, isolates: { type: "string", default: "3" } },
  });
  const requests = Number(values.requests);
  const isolates = Number(values.isolates);
  if (!Number.isInteger(requests) || requests < 1 || requests > 10_000) throw new Error("--requests: 1..10000");
  if (!Number.isInteger(isolates) || isolates < 1 || isolates > 8) throw new Error("--isolates: 1..8");
  return { requests, isolates };
}

/** Fires all requests at once, round-robin over the named Workers (Miniflare routes by header). */
async function fire(
  mf: Miniflare,
  workers: string[],
  requests: number,
  path: string,
  auth: Record<string, string>,
): Promise<{ latencies: number[]; errors: number; bodies: Set<string>; statuses: StatusTally }> {
  const latencies: number[] = [];
  const bodies = new Set<string>();
  const statuses = new StatusTally();
  let errors = 0;
  await Promise.all(
    Array.from({ length: requests }, async (_, i) => {
      const t0 = performance.now();
      try {
        const res = await mf.dispatchFetch(`http://stampede${path}`, {
          headers: { ...auth, "MF-Route-Override": workers[i % workers.length]! },
        });
        const body = await res.text();
        statuses.add(res.status);
        if (res.status === 200) {
          latencies.push(performance.now() - t0);
          bodies.add(body);
        } else errors++;
      } catch {
        statuses.add(0);
        errors++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { latencies, errors, bodies, statuses };
}

async function main(): Promise<void> {
  const opts = options();
  if (!existsSync(BUILT_WORKER)) throw new Error("run `npm run build` first: dist/index.js is missing");
  const settings = wranglerSettings();
  const db = await scratchDatabase("stampede");
  // Warm /sql connections close 100 ms after use, so each backend reports its reads promptly.
  const services = await localServices(db.url, { sqlIdleTimeoutMs: 100 });
  const buildDir = await mkdtemp(join(tmpdir(), "clinic-edge-stampede-"));
  const monitor = new pg.Client({ connectionString: db.url });
  await monitor.connect();
  let mf: Miniflare | undefined;
  try {
    const baseline = join(buildDir, "stampede.js");
    await build({
      entryPoints: [join(ROOT, "bench/workers/stampede.ts")],
      bundle: true,
      format: "esm",
      platform: "neutral",
      conditions: ["workerd", "worker", "browser"],
      mainFields: ["module", "main"],
      external: ["node:*", "cloudflare:*"],
      outfile: baseline,
      logLevel: "error",
    });
    const common = {
      modules: true,
      compatibilityDate: settings.compatibilityDate,
      compatibilityFlags: settings.compatibilityFlags,
      bindings: { ...settings.bindings, ...services.bindings },
    };
    const names = (prefix: string) => Array.from({ length: opts.isolates }, (_, i) => `${prefix}-${i}`);
    const workers: V4WorkerOptions[] = [
      ...names("edge").map((name, i) => ({
        ...common,
        name,
        scriptPath: BUILT_WORKER,
        modulesRoot: dirname(BUILT_WORKER),
        // The first Worker hosts the Coalescer class; every one binds the same namespace.
        durableObjects: {
          COALESCER:
            i === 0
              ? { className: "Coalescer", useSQLite: true }
              : { className: "Coalescer", scriptName: "edge-0", useSQLite: true },
        },
      })),
      ...(["none", "isolate"] as const).flatMap((mode) =>
        names(mode).map((name) => ({
          ...common,
          name,
          scriptPath: baseline,
          modulesRoot: buildDir,
          bindings: { ...common.bindings, STAMPEDE_MODE: mode },
        })),
      ),
    ];
    // No Request.cf download (cf: false): a bench contacts 127.0.0.1 only.
    mf = new Miniflare(convertV4MiniflareOptions({ workers, cf: false, log: new Log(LogLevel.WARN) }));
    await mf.ready;

    const date = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
    // Availability is public, but a token costs its verification on every request: send it anyway,
    // as the other benches do, so their figures compare (the baseline Worker ignores it).
    const auth = await adminHeaders();
    const results: Result[] = [];
    for (const strategy of ["none", "isolate", "clinic-edge"] as const) {
      const doctor = await coldDoctor(monitor, "Dr. Stampede");
      const before = await reads(monitor);
      const prefix = strategy === "clinic-edge" ? "edge" : strategy;
      const path =
        strategy === "clinic-edge" ? `/doctors/${doctor}/availability?date=${date}` : `/?doctor=${doctor}&date=${date}`;
      console.error(`[bench] ${strategy}: ${opts.requests} requests over ${opts.isolates} isolates`);
      const { latencies, errors, bodies, statuses } = await fire(mf, names(prefix), opts.requests, path, auth);
      refuseOnFailures(`${strategy}: ${opts.requests} requests`, statuses);
      results.push({
        strategy,
        reads: (await reads(monitor)) - before,
        ok: latencies.length,
        errors,
        distinctAnswers: bodies.size,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      });
    }

    const head = ["strategy", "Postgres reads", "200s", "errors", "distinct answers", "p50 ms", "p99 ms"];
    const rows = results.map((r) =>
      [r.strategy, r.reads, r.ok, r.errors, r.distinctAnswers, r.p50.toFixed(0), r.p99.toFixed(0)].map(String),
    );
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
    console.log(
      `${opts.requests} concurrent requests for one cold key over ${opts.isolates} isolates (${process.env.DATABASE_URL ? "DATABASE_URL" : "embedded Postgres"})`,
    );
    console.log(line(head));
    console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
    for (const row of rows) console.log(line(row));
  } finally {
    await mf?.dispose();
    await monitor.end();
    await services.close();
    await db.drop();
    await rm(buildDir, { recursive: true, force: true });
  }
}

await main();
