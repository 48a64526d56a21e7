/**
 * `npm run build && npm run bench:ratelimit [-- -c 20 -d 10 -w 2 -r 2]`: what the rate limiter costs.
 *
 * The same built Worker (dist/index.js) on workerd (Miniflare), the same seeded database and the
 * same closed-loop load, with the per-caller rate limit off (RATE_LIMIT_REQUESTS=0) and on with a
 * limit no request reaches (100,000 per hour): the difference is the RateLimiter Durable Object
 * round trip each request makes. Every request comes from one caller (the bench's admin token:
 * key `admin:bench`), so one object serves them all — the worst case for one key. The variants
 * alternate `--rounds` times, so drift on a shared machine hits both.
 *
 * Two routes:
 *   GET /metrics          no database: the limiter's cost against a trivial route
 *   GET /patients/:id     one SQL statement over the HTTP path
 */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions, type V4MiniflareOptions } from "miniflare";
import pg from "pg";
import { seedIfEmpty } from "../dev/seed.ts";
import { closedLoop } from "./lib/closed-loop.ts";
import { BUILT_WORKER, adminHeaders, freePort, localServices, percentile, scratchDatabase, wranglerSettings } from "./lib/stack.ts";

interface Options {
  concurrency: number;
  durationS: number;
  warmupS: number;
  rounds: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      concurrency: { type: "string", short: "c", default: "20" },
      duration: { type: "string", short: "d", default: "10" },
      warmup: { type: "string", short: "w", default: "2" },
      rounds: { type: "string", short: "r", default: "2" },
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
    const db = await scratchDatabase("ratelimit");
    cleanups.unshift(() => db.drop());
    await seedIfEmpty(db.url);
    const services = await localServices(db.url);
    cleanups.unshift(() => services.close());
    const monitor = new pg.Client({ connectionString: db.url });
    await monitor.connect();
    cleanups.unshift(() => monitor.end());
    const patients = (await monitor.query<{ id: string }>("SELECT id FROM patients ORDER BY id LIMIT 200")).rows.map((r) => r.id);

    const settings = wranglerSettings();
    const port = await freePort();
    const worker = (limited: boolean): V4MiniflareOptions => ({
      name: "clinic-edge",
      modules: true,
      scriptPath: BUILT_WORKER,
      compatibilityDate: settings.compatibilityDate,
      compatibilityFlags: settings.compatibilityFlags,
      durableObjects: settings.durableObjects,
      bindings: {
        ...settings.bindings,
        ...services.bindings,
        RATE_LIMIT_REQUESTS: limited ? "100000" : "0",
        RATE_LIMIT_WRITE_REQUESTS: "0",
        RATE_LIMIT_WINDOW_MS: "3600000",
        // Generous: a slow answer under load should be measured, not turned into "failed open".
        RATE_LIMIT_TIMEOUT_MS: "5000",
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
    const routes = [
      { label: "GET /metrics", urls: [`${base}/metrics`] },
      { label: "GET /patients/:id", urls: patients.map((id) => `${base}/patients/${id}`) },
    ];
    const auth = await adminHeaders();
    const totals = new Map<string, Totals>();
    let current = false;
    let limitedSeen = 0;
    console.error(`[bench] c=${opts.concurrency}, ${opts.durationS} s per phase after ${opts.warmupS} s warm-up, ${opts.rounds} rounds`);
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? [false, true] : [true, false];
      for (const limited of order) {
        if (limited !== current) {
          // A new configuration is a new isolate, so the object starts with an empty window.
          await mf.setOptions(convertV4MiniflareOptions(worker(limited)));
          current = limited;
        }
        for (const route of routes) {
          const key = `${route.label}|${limited ? "on" : "off"}`;
          console.error(`[bench] round ${round + 1}: ${route.label}, limiter ${limited ? "on" : "off"}`);
          if (opts.warmupS > 0) await closedLoop(route.urls, opts.concurrency, opts.warmupS, auth);
          const s = await closedLoop(route.urls, opts.concurrency, opts.durationS, auth);
          const t = totals.get(key) ?? { ok: 0, errors: 0, seconds: 0, latencies: [] };
          t.ok += s.latencies.length;
          t.errors += s.errors;
          t.seconds += s.elapsedS;
          t.latencies.push(...s.latencies);
          totals.set(key, t);
        }
        if (limited) {
          const text = await (await fetch(`${base}/metrics`, { headers: auth })).text();
          limitedSeen += Number(/^ratelimit_decisions_total\{outcome="(?:limited|failed-open)"\} (\d+)$/m.exec(text)?.[1] ?? 0);
        }
      }
    }

    const head = ["route", "rate limit", "req/s", "vs off", "p50 ms", "p99 ms", "errors"];
    const rows: string[][] = [];
    for (const route of routes) {
      const off = totals.get(`${route.label}|off`)!;
      for (const variant of ["off", "on"] as const) {
        const t = totals.get(`${route.label}|${variant}`)!;
        t.latencies.sort((a, b) => a - b);
        const rps = t.ok / t.seconds;
        rows.push([
          route.label,
          variant === "on" ? "on (DO per caller)" : "off",
          rps.toFixed(0),
          `${((rps / (off.ok / off.seconds)) * 100).toFixed(1)}%`,
          percentile(t.latencies, 50).toFixed(1),
          percentile(t.latencies, 99).toFixed(1),
          String(t.errors),
        ]);
      }
    }
    console.log([head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n"));
    console.log(`requests limited or failed open while on (should be 0): ${limitedSeen}`);
  } finally {
    for (const cleanup of cleanups) await cleanup();
  }
}

await main();
