/**
 * `npm run build && npm run bench:db-paths [-- -c 20 -d 15 -w 3 -s 5 --pin --gc]`: the cost of the
 * uncached database path, side by side, on workerd directly (Miniflare, no `wrangler dev` proxy):
 *
 *   GET /healthz                             the trivial route: no database
 *   GET /patients/:id, DB_QUERY_PATH=http    one HTTP round trip to a warm pool (dev/sql-endpoint.ts)
 *   GET /patients/:id, DB_QUERY_PATH=ws      a WebSocket, a Postgres startup and a backend per request
 *   a bare Worker (`new Response("ok")`)      workerd's own floor, on a workerd of its own
 *
 * Same built Worker (dist/index.js from `npm run build`), same database, same load: a closed loop of
 * `--concurrency` requests in flight, spread over the seeded patients. The trivial route and the
 * HTTP path run in `--slices` alternating slices (`--duration` seconds each in all, after
 * `--warmup`), so the machine's drift falls on both alike; the WebSocket path, then the bare Worker, run after them.
 * Prints req/s, p50, p99, the Postgres backends started per 1,000 requests
 * (pg_stat_database.sessions), and the CPU each request cost workerd, Postgres (embedded only: a
 * shared server's CPU is not ours to count) and this process (the load generator, the bridge and
 * the /sql endpoint), read from /proc (Linux). `--pin` gives workerd a core of its own (see run()).
 * `--gc` adds what V8's garbage collector took from workerd's thread while each route ran: pause
 * time per second, the longest pause, the full (mark-compact) collections, and the p99 of each
 * request's latency less the pauses it sat through (Linux; see netOfGc()).
 *
 * The database: a throw-away embedded PostgreSQL, migrated and seeded; with DATABASE_URL, that
 * server instead, in a scratch database created and dropped here (bench/lib/stack.ts). Requests
 * carry the bench's admin token; the abuse limits are off.
 */
import { parseCommandLine, parseFlags, usage, type Flag } from "./lib/cli.ts";
import { observeOwnGc } from "./lib/gc.ts";
import { type Counted, childrenOf, pin, postmasterOf } from "./lib/proc.ts";
import { BUILT_WORKER_NOTE } from "./lib/stack.ts";
import { withWorkerStack } from "./lib/worker.ts";
import { table } from "./db-paths/report.ts";
import { type Options, bareWorker, countGc, interleaved } from "./db-paths/slices.ts";
import { Tally } from "./db-paths/tally.ts";

// 0 is accepted for the counts, as 1 (options()).
const FLAGS = {
  concurrency: { short: "c", arg: "n", help: "requests in flight", default: 20, min: 0, max: 500 },
  duration: { short: "d", arg: "s", help: "measured seconds per route", default: 10, min: 0, max: 600 },
  warmup: { short: "w", arg: "s", help: "unmeasured seconds per route first", default: 2, min: 0, max: 60 },
  slices: { short: "s", arg: "n", help: "alternating slices per route", default: 5, min: 0, max: 100 },
  pin: { switch: true, help: "workerd on CPU 0, the rest of the bench on CPU 1 (Linux, taskset)" },
  gc: { switch: true, help: "what V8's collections took from each route (Linux, coreutils' libstdbuf)" },
} satisfies Record<string, Flag>;

const USAGE = usage("npm run bench:db-paths --", FLAGS, BUILT_WORKER_NOTE);

function options(argv: string[]): Options | undefined {
  const f = parseFlags(FLAGS, argv);
  if (!f) return undefined;
  return {
    concurrency: Math.max(1, f.concurrency),
    durationS: Math.max(1, f.duration),
    warmupS: f.warmup,
    slices: Math.max(1, f.slices),
    pin: f.pin,
    gc: f.gc,
  };
}

/** The routes measured on the worker stack, then the table. */
async function run(opts: Options): Promise<void> {
  const ownGc = opts.gc ? observeOwnGc() : undefined;
  await withWorkerStack(
    "db_paths",
    async (stack) => {
      // The embedded server's CPU and its backends' count as Postgres'; a DATABASE_URL server's is not ours to count.
      const postmaster = process.env.DATABASE_URL ? undefined : await postmasterOf(stack.databaseUrl);
      const patientUrls = stack.patients.map((id) => `${stack.base}/patients/${id}`);
      console.error(
        `[bench] c=${opts.concurrency}, ${opts.durationS} s per route in ${opts.slices} alternating slices after ${opts.warmupS} s of warm-up, ${stack.patients.length} patients`,
      );
      // Miniflare restarts workerd on setOptions: look the process up each time.
      const counted: Counted = { workerd: () => childrenOf(process.pid, "workerd"), postmaster };
      const { monitor, auth } = stack;
      const configure = async (bindings: Record<string, string>): Promise<void> => {
        await stack.configure(bindings);
        if (opts.pin) pin(counted.workerd(), 0);
      };
      // --pin: on Workers the isolate shares no core with the database or its proxy; here the Worker
      // gets CPU 0 to itself, and the load generator, the bridge, the /sql endpoint and an embedded
      // Postgres (its future backends included) share CPU 1. A DATABASE_URL server is left alone.
      // Every thread of each process is moved; workerd again after each restart (configure()).
      if (opts.pin) pin([process.pid, ...(postmaster === undefined ? [] : [postmaster, ...childrenOf(postmaster)])], 1);
      const trivial = new Tally("GET /healthz (trivial)", [`${stack.base}/healthz`], false);
      const ws = new Tally("GET /patients/:id, WebSocket per request", patientUrls, true);
      const http = new Tally("GET /patients/:id, HTTP path", patientUrls, true);
      // The path is a binding (a restart), so each path's slices alternate with the trivial route's.
      await configure({ DB_QUERY_PATH: "http" });
      await interleaved([trivial, http], opts, monitor, counted, auth);
      await configure({ DB_QUERY_PATH: "ws" });
      await interleaved([ws], { ...opts, slices: 1 }, monitor, counted, auth);
      const bare = await bareWorker(opts, monitor, counted, auth);
      const hasPostgres = postmaster !== undefined;
      const tallies = [trivial, ws, http, bare];
      if (opts.gc && tallies.every((t) => t.gcPauses.length === 0)) {
        console.error(
          "[bench] --gc: no collection was reported; has V8's --trace-gc line format changed? (bench/lib/gc.ts)",
        );
      }
      ownGc?.stop();
      console.log(
        table(
          tallies.map((t) => t.result(hasPostgres, ownGc?.pauses ?? [])),
          opts.gc,
        ),
      );
    },
    opts.gc ? { onGc: countGc("app") } : {},
  );
}

const opts = parseCommandLine(options, USAGE, "[bench]");
if (typeof opts === "number") process.exitCode = opts;
else await run(opts);
