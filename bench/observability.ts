/**
 * `npm run build && npm run bench:observability [-- -c 20 -d 10 -w 2 -r 2 --metrics-interval-ms 10000]`:
 * what exporting telemetry costs.
 *
 * The same built Worker (dist/index.js) on workerd (Miniflare), the same seeded database and the
 * same closed-loop load, with export off (OTEL_EXPORTER_OTLP_ENDPOINT empty) and on: tracing at
 * 100 % sampling (every request a trace) plus the OTLP metrics push every `--metrics-interval-ms`
 * (OTEL_METRICS_EXPORT_INTERVAL_MS; 0: after every request), both sent after the response to
 * dev/otlp-collector.ts running in this process. The variants alternate `--rounds` times, so drift
 * on a shared machine hits both. The in-isolate registry (/metrics counters) and the request log
 * line are always on: both sides pay them.
 *
 * Two routes:
 *   GET /patients/:id                      one SQL statement over the HTTP path: server span + 1 SQL span
 *   GET /doctors/:id/availability?date=…   a Coalescer hop (mostly cache hits): server + hop + object span
 */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions, type V4MiniflareOptions } from "miniflare";
import pg from "pg";
import { startCollector } from "../dev/otlp-collector.ts";
import { seedIfEmpty } from "../dev/seed.ts";
import { closedLoop } from "./lib/closed-loop.ts";
import { BUILT_WORKER, adminHeaders, freePort, localServices, percentile, scratchDatabase, wranglerSettings } from "./lib/stack.ts";

interface Options {
  concurrency: number;
  durationS: number;
  warmupS: number;
  rounds: number;
  metricsIntervalMs: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      concurrency: { type: "string", short: "c", default: "20" },
      duration: { type: "string", short: "d", default: "10" },
      warmup: { type: "string", short: "w", default: "2" },
      rounds: { type: "string", short: "r", default: "2" },
      "metrics-interval-ms": { type: "string", default: "10000" },
    },
  });
  const int = (v: string, name: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
  return {
    concurrency: int(values.concurrency, "concurrency", 1, 500),
    durationS: int(values.duration, "duration", 1, 600),
    warmupS: int(values.warmup, "warmup", 0, 60),
    rounds: int(values.rounds, "rounds", 1, 20),
    metricsIntervalMs: int(values["metrics-interval-ms"], "metrics-interval-ms", 0, 3_600_000),
  };
}


interface Totals {
  ok: number;
  errors: number;
  seconds: number;
  latencies: number[];
}

async function main(): Promise<void> {
  const opts = options();
  if (!existsSync(BUILT_WORKER)) throw new Error("dist/index.js is missing: run `npm run build` first");
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const db = await scratchDatabase("observability");
    cleanups.unshift(() => db.drop());
    await seedIfEmpty(db.url);
    const services = await localServices(db.url);
    cleanups.unshift(() => services.close());
    const collector = await startCollector();
    cleanups.unshift(() => collector.close());
    const monitor = new pg.Client({ connectionString: db.url });
    await monitor.connect();
    cleanups.unshift(() => monitor.end());
    const patients = (await monitor.query<{ id: string }>("SELECT id FROM patients ORDER BY id LIMIT 200")).rows.map((r) => r.id);
    const doctors = (await monitor.query<{ id: string }>("SELECT id FROM doctors WHERE active ORDER BY id LIMIT 50")).rows.map((r) => r.id);

    const settings = wranglerSettings();
    const port = await freePort();
    const worker = (tracing: boolean): V4MiniflareOptions => ({
      name: "clinic-edge",
      modules: true,
      scriptPath: BUILT_WORKER,
      compatibilityDate: settings.compatibilityDate,
      compatibilityFlags: settings.compatibilityFlags,
      durableObjects: settings.durableObjects,
      bindings: {
        ...settings.bindings,
        ...services.bindings,
        OTEL_EXPORTER_OTLP_ENDPOINT: tracing ? collector.url : "",
        OTEL_SAMPLE_RATIO: "1",
        OTEL_METRICS_EXPORT_INTERVAL_MS: String(opts.metricsIntervalMs),
      },
      host: "127.0.0.1",
      port,
      cf: false,
      log: new Log(LogLevel.WARN),
    });
    const mf = new Miniflare(convertV4MiniflareOptions(worker(false)));
    cleanups.unshift(() => mf.dispose());
    await mf.ready;

    const base = `http://127.0.0.1:${port}`;
    const date = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
    const routes = [
      { label: "GET /patients/:id", urls: patients.map((id) => `${base}/patients/${id}`) },
      { label: "GET /doctors/:id/availability", urls: doctors.map((id) => `${base}/doctors/${id}/availability?date=${date}`) },
    ];
    const auth = await adminHeaders();
    const load = (urls: string[], concurrency: number, seconds: number) => closedLoop(urls, concurrency, seconds, auth);
    const totals = new Map<string, Totals>();
    let current = false;
    console.error(
      `[bench] c=${opts.concurrency}, ${opts.durationS} s per phase after ${opts.warmupS} s warm-up, ${opts.rounds} rounds, ` +
        `metrics pushed every ${opts.metricsIntervalMs} ms when on`,
    );
    for (let round = 0; round < opts.rounds; round++) {
      // Alternate which variant goes first, so neither always runs on a warmer machine.
      const order = round % 2 === 0 ? [false, true] : [true, false];
      for (const tracing of order) {
        if (tracing !== current) {
          await mf.setOptions(convertV4MiniflareOptions(worker(tracing)));
          current = tracing;
        }
        for (const route of routes) {
          const key = `${route.label}|${tracing ? "on" : "off"}`;
          console.error(`[bench] round ${round + 1}: ${route.label}, export ${tracing ? "on" : "off"}`);
          if (opts.warmupS > 0) await load(route.urls, opts.concurrency, opts.warmupS);
          const s = await load(route.urls, opts.concurrency, opts.durationS);
          const t = totals.get(key) ?? { ok: 0, errors: 0, seconds: 0, latencies: [] };
          t.ok += s.latencies.length;
          t.errors += s.errors;
          t.seconds += s.elapsedS;
          t.latencies.push(...s.latencies);
          totals.set(key, t);
        }
      }
    }

    const head = ["route", "export", "req/s", "vs off", "p50 ms", "p99 ms", "errors"];
    const rows: string[][] = [];
    for (const route of routes) {
      const off = totals.get(`${route.label}|off`)!;
      for (const variant of ["off", "on"] as const) {
        const t = totals.get(`${route.label}|${variant}`)!;
        t.latencies.sort((a, b) => a - b);
        const rps = t.ok / t.seconds;
        rows.push([
          route.label,
          variant === "on" ? `spans 100 % + metrics/${opts.metricsIntervalMs} ms` : "off",
          rps.toFixed(0),
          `${((rps / (off.ok / off.seconds)) * 100).toFixed(1)}%`,
          percentile(t.latencies, 50).toFixed(1),
          percentile(t.latencies, 99).toFixed(1),
          String(t.errors),
        ]);
      }
    }
    console.log([head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n"));
    console.log(`OTLP export requests received by the collector: ${collector.exports} span batches, ${collector.metricExports} metric pushes`);
  } finally {
    for (const cleanup of cleanups) await cleanup();
  }
}

await main();
