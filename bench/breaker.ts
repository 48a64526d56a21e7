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
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from "miniflare";
import pg from "pg";
import { startInsurance } from "../dev/insurance.ts";
import { markdownTable } from "./lib/ab.ts";
import { type Flag, parseCommandLine, parseFlags, usage } from "./lib/cli.ts";
import { runtimeOutput } from "./lib/runtime-log.ts";
import {
  BUILT_WORKER,
  BUILT_WORKER_NOTE,
  adminHeaders,
  localServices,
  scratchDatabase,
  wranglerSettings,
} from "./lib/stack.ts";
import { BREAKER, type Mode, fleet } from "./breaker/fleet.ts";
import { type Cast, type Options, type Result, runMode } from "./breaker/outage.ts";

const FLAGS = {
  isolates: { arg: "n", help: "isolates (Workers) per mode", default: 2, min: 2, max: 8 },
  concurrency: { arg: "n", help: "bookings in flight", default: 20, min: 1, max: 200 },
  seconds: { arg: "s", help: "each mode's load", default: 30, min: 5, max: 300 },
  outage: { arg: "s", help: "the insurer down in the middle; under --seconds", default: 10, min: 1, max: 300 },
} satisfies Record<string, Flag>;

const USAGE = usage("npm run bench:breaker --", FLAGS, BUILT_WORKER_NOTE);

function options(argv: string[]): Options | undefined {
  const o = parseFlags(FLAGS, argv);
  if (o && o.outage >= o.seconds) throw new Error("--outage must be shorter than --seconds");
  return o;
}

/** Doctors (one per load worker, so slots never collide) and insured and uninsured patients. */
async function people(db: pg.Client, concurrency: number): Promise<Cast> {
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
  return `${title}\n\n${markdownTable(head, rows)}`;
}

async function main(opts: Options): Promise<void> {
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
    const workers = fleet(modes, opts.isolates, settings, {
      ...settings.bindings,
      ...services.bindings,
      INSURANCE_API_URL: insurance.url,
      INSURANCE_API_KEY: apiKey,
    });
    mf = new Miniflare(
      convertV4MiniflareOptions({
        workers,
        // No Request.cf download: a bench contacts 127.0.0.1 only.
        cf: false,
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
      results.push(await runMode(mf, mode, opts, insurance, cast, i * 60, auth));
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

const opts = parseCommandLine(options, USAGE, "[bench]");
if (typeof opts === "number") process.exitCode = opts;
else await main(opts);
