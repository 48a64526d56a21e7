/**
 * `npm run build && npm run bench:breaker [-- --isolates 2 --concurrency 20 --seconds 30 --outage 10]`:
 * the insurer goes down in the middle of a booking load, and the fleet either shares one circuit
 * breaker (clinic-edge's Breaker Durable Object) or does not. Side by side, in one run:
 *
 *   shared     BREAKER_SCOPE=shared: every isolate sees the state the object holds
 *   isolate    BREAKER_SCOPE=isolate: each isolate has its own cockatiel breaker (its state is in memory)
 *   none       no breaker to speak of (an isolate breaker that needs 1,000 failures in a row)
 *   baseline   the same bookings for patients without a member id: no dependency at all
 *
 * Each mode runs as `--isolates` Workers (separate isolates) on one workerd (Miniflare), built from
 * dist/index.js; the shared ones are bound to one Breaker namespace. A closed loop of
 * `--concurrency` bookings (POST /appointments, insured patients, round-robin over the isolates)
 * runs for `--seconds`; the insurer's stand-in (dev/insurance.ts) resets every connection from
 * second (seconds - outage) / 2 for `--outage` seconds. Calls that reached the insurer are counted
 * by the stand-in; latencies are those of bookings started during the outage.
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions, type V4WorkerOptions } from "miniflare";
import pg from "pg";
import { startInsurance, type InsuranceStandIn } from "../dev/insurance.ts";
import {
  BUILT_WORKER,
  adminHeaders,
  localServices,
  percentile,
  scratchDatabase,
  wranglerSettings,
} from "./lib/stack.ts";
import { runtimeOutput } from "./lib/runtime-log.ts";

type Mode = "shared" | "isolate" | "none" | "baseline";

const BREAKER = { BREAKER_FAILURE_THRESHOLD: "5", BREAKER_OPEN_MS: "2000", BREAKER_HALF_OPEN_PROBES: "1" };
const MODE_VARS: Record<Mode, Record<string, string>> = {
  shared: { ...BREAKER, BREAKER_SCOPE: "shared" },
  isolate: { ...BREAKER, BREAKER_SCOPE: "isolate" },
  none: { ...BREAKER, BREAKER_SCOPE: "isolate", BREAKER_FAILURE_THRESHOLD: "1000" },
  baseline: { ...BREAKER, BREAKER_SCOPE: "shared" },
};

interface Options {
  isolates: number;
  concurrency: number;
  seconds: number;
  outage: number;
}

interface Sample {
  startedAt: number;
  ms: number;
  status: number;
  eligibility: string | null;
  /** The eligibility check's own time inside the Worker (Server-Timing `insurance;dur=`). */
  checkMs: number | undefined;
}

interface Result {
  mode: Mode;
  bookings: number;
  errors: number;
  /** Calls that reached the insurer while it was down, and over the whole run. */
  callsDuringOutage: number;
  callsTotal: number;
  unknownDuringOutage: number;
  outageP50: number;
  outageP99: number;
  healthyP50: number;
  healthyP99: number;
  /** The eligibility check's own time (breaker included) for bookings started while the insurer was down. */
  checkP50: number;
  checkP99: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      isolates: { type: "string", default: "2" },
      concurrency: { type: "string", default: "20" },
      seconds: { type: "string", default: "30" },
      outage: { type: "string", default: "10" },
    },
  });
  const int = (v: string, name: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: a whole number from ${min} to ${max}`);
    return n;
  };
  const o = {
    isolates: int(values.isolates, "isolates", 2, 8),
    concurrency: int(values.concurrency, "concurrency", 1, 200),
    seconds: int(values.seconds, "seconds", 5, 300),
    outage: int(values.outage, "outage", 1, 300),
  };
  if (o.outage >= o.seconds) throw new Error("--outage must be shorter than --seconds");
  return o;
}

/** Doctors (one per load worker, so slots never collide) and insured and uninsured patients. */
async function people(
  db: pg.Client,
  concurrency: number,
): Promise<{ doctors: string[]; insured: string[]; uninsured: string[] }> {
  const ids = async (sql: string): Promise<string[]> => (await db.query<{ id: string }>(sql)).rows.map((r) => r.id);
  const doctors = await ids(
    `INSERT INTO doctors (name, specialty) SELECT 'Dr. Bench ' || g, 'cardiology' FROM generate_series(1, ${concurrency}) g RETURNING id`,
  );
  const patients = (insured: boolean) =>
    ids(
      `INSERT INTO patients (name, email, birth_date, insurance_member_id)
       SELECT 'Bench ' || g, '${insured ? "in" : "un"}' || g || '-' || md5(random()::text) || '@bench.test', '1980-01-01',
              ${insured ? "'ACME-' || lpad(g::text, 6, '0')" : "NULL"}
       FROM generate_series(1, 200) g RETURNING id`,
    );
  return { doctors, insured: await patients(true), uninsured: await patients(false) };
}

async function run(
  mf: Miniflare,
  mode: Mode,
  opts: Options,
  insurance: InsuranceStandIn,
  cast: { doctors: string[]; insured: string[]; uninsured: string[] },
  dayOffset: number,
  auth: Record<string, string>,
): Promise<Result> {
  const workers = Array.from({ length: opts.isolates }, (_, i) => `${mode}-${i}`);
  const patients = mode === "baseline" ? cast.uninsured : cast.insured;
  const samples: Sample[] = [];
  const started = performance.now();
  const outageFrom = ((opts.seconds - opts.outage) / 2) * 1_000;
  const outageTo = outageFrom + opts.outage * 1_000;
  const endAt = opts.seconds * 1_000;
  const firstSlot = Date.UTC(new Date().getUTCFullYear() + 1, 0, 1) + dayOffset * 86_400_000;
  let next = 0;

  const loop = async (k: number): Promise<void> => {
    for (let n = 0; performance.now() - started < endAt; n++) {
      const startsAt = firstSlot + n * 30 * 60_000;
      const body = JSON.stringify({
        doctorId: cast.doctors[k],
        patientId: patients[(k * 7 + n) % patients.length],
        startsAt: new Date(startsAt).toISOString(),
        endsAt: new Date(startsAt + 30 * 60_000).toISOString(),
      });
      const t0 = performance.now();
      let status = 0;
      let eligibility: string | null = null;
      let checkMs: number | undefined;
      try {
        const res = await mf.dispatchFetch("http://bench/appointments", {
          method: "POST",
          headers: {
            ...auth,
            "content-type": "application/json",
            "MF-Route-Override": workers[next++ % workers.length]!,
          },
          body,
        });
        status = res.status;
        const timing = /insurance;dur=([\d.]+)/.exec(res.headers.get("server-timing") ?? "");
        checkMs = timing ? Number(timing[1]) : undefined;
        const answer = (await res.json()) as { eligibility?: string | null };
        eligibility = answer.eligibility ?? null;
      } catch {
        // status stays 0: no answer at all
      }
      samples.push({ startedAt: t0 - started, ms: performance.now() - t0, status, eligibility, checkMs });
    }
  };

  const controller = (async () => {
    await sleep(outageFrom);
    const before = insurance.stats().requests;
    insurance.controls({ down: true });
    await sleep(opts.outage * 1_000);
    insurance.controls({ down: false });
    return insurance.stats().requests - before;
  })();
  const totalBefore = insurance.stats().requests;
  await Promise.all(Array.from({ length: opts.concurrency }, (_, k) => loop(k)));
  const callsDuringOutage = await controller;

  const during = samples.filter((s) => s.startedAt >= outageFrom && s.startedAt < outageTo);
  const healthy = samples.filter((s) => s.startedAt < outageFrom);
  const sorted = (xs: Sample[]) => xs.map((s) => s.ms).sort((a, b) => a - b);
  // No check at all (the baseline's uninsured patients) costs 0 ms.
  const checks = during.map((s) => s.checkMs ?? 0).sort((a, b) => a - b);
  return {
    mode,
    bookings: samples.filter((s) => s.status === 201).length,
    errors: samples.filter((s) => s.status !== 201).length,
    callsDuringOutage: mode === "baseline" ? 0 : callsDuringOutage,
    callsTotal: insurance.stats().requests - totalBefore,
    unknownDuringOutage: during.filter((s) => s.eligibility === "unknown").length,
    outageP50: percentile(sorted(during), 50),
    outageP99: percentile(sorted(during), 99),
    healthyP50: percentile(sorted(healthy), 50),
    healthyP99: percentile(sorted(healthy), 99),
    checkP50: percentile(checks, 50),
    checkP99: percentile(checks, 99),
  };
}

function table(results: Result[], opts: Options): string {
  const head = [
    "mode",
    "bookings 201",
    "errors",
    "calls to insurer while down",
    "calls total",
    "unknown while down",
    "p50 ms while down",
    "p99 ms while down",
    "p50 ms healthy",
    "p99 ms healthy",
    "check p50 ms while down",
    "check p99 ms while down",
  ];
  const rows = results.map((r) =>
    [
      r.mode,
      r.bookings,
      r.errors,
      r.callsDuringOutage,
      r.callsTotal,
      r.unknownDuringOutage,
      r.outageP50.toFixed(1),
      r.outageP99.toFixed(1),
      r.healthyP50.toFixed(1),
      r.healthyP99.toFixed(1),
      r.checkP50.toFixed(1),
      r.checkP99.toFixed(1),
    ].map(String),
  );
  const title =
    `${opts.concurrency} bookings in flight over ${opts.isolates} isolates for ${opts.seconds} s; the insurer resets every ` +
    `connection for ${opts.outage} s in the middle (threshold ${BREAKER.BREAKER_FAILURE_THRESHOLD}, open ` +
    `${BREAKER.BREAKER_OPEN_MS} ms, ${BREAKER.BREAKER_HALF_OPEN_PROBES} probe)`;
  return [
    title,
    "",
    `| ${head.join(" | ")} |`,
    `|${head.map(() => " --- ").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

async function main(): Promise<void> {
  const opts = options();
  if (!existsSync(BUILT_WORKER)) throw new Error("run `npm run build` first: dist/index.js is missing");
  const settings = wranglerSettings();
  const db = await scratchDatabase("breaker");
  const services = await localServices(db.url);
  const apiKey = `bench-${crypto.randomUUID()}`;
  const insurance = await startInsurance({ apiKey });
  const monitor = new pg.Client({ connectionString: db.url });
  await monitor.connect();
  let mf: Miniflare | undefined;
  try {
    const cast = await people(monitor, opts.concurrency);
    const modes: Mode[] = ["baseline", "shared", "isolate", "none"];
    const workers: V4WorkerOptions[] = modes.flatMap((mode) =>
      Array.from({ length: opts.isolates }, (_, i): V4WorkerOptions => {
        const host = `${mode}-0`;
        return {
          name: `${mode}-${i}`,
          modules: true,
          scriptPath: BUILT_WORKER,
          modulesRoot: dirname(BUILT_WORKER),
          compatibilityDate: settings.compatibilityDate,
          compatibilityFlags: settings.compatibilityFlags,
          bindings: {
            ...settings.bindings,
            ...services.bindings,
            INSURANCE_API_URL: insurance.url,
            INSURANCE_API_KEY: apiKey,
            ...MODE_VARS[mode],
          },
          // The mode's first Worker hosts the objects; its other isolates bind the same namespaces.
          durableObjects: {
            COALESCER:
              i === 0
                ? { className: "Coalescer", useSQLite: true }
                : { className: "Coalescer", scriptName: host, useSQLite: true },
            BREAKER:
              i === 0
                ? { className: "Breaker", useSQLite: true }
                : { className: "Breaker", scriptName: host, useSQLite: true },
          },
        };
      }),
    );
    mf = new Miniflare(
      convertV4MiniflareOptions({
        workers,
        log: new Log(LogLevel.WARN),
        // The Workers' per-request info lines would bury the table; warnings and errors still show.
        ...runtimeOutput(),
      }),
    );
    await mf.ready;

    const auth = await adminHeaders();
    const results: Result[] = [];
    for (const [i, mode] of modes.entries()) {
      console.error(`[bench] ${mode}: ${opts.seconds} s at c=${opts.concurrency} over ${opts.isolates} isolates`);
      results.push(await run(mf, mode, opts, insurance, cast, i * 60, auth));
    }
    console.log(table(results, opts));
  } finally {
    await mf?.dispose();
    await monitor.end();
    await insurance.close();
    await services.close();
    await db.drop();
  }
}

await main();
