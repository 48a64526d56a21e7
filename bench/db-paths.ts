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
 * the /sql endpoint), read from /proc (Linux). `--pin` gives workerd a core of its own (see pin()).
 * `--gc` adds what V8's garbage collector took from workerd's thread while each route ran: pause
 * time per second, the longest pause, the full (mark-compact) collections, and the p99 of each
 * request's latency less the pauses it sat through (Linux; see netOfGc()).
 *
 * The database: a throw-away embedded PostgreSQL, migrated and seeded; with DATABASE_URL, that
 * server instead, in a scratch database created and dropped here (bench/lib/stack.ts). Requests
 * carry the bench's admin token; the abuse limits are off.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import pg from "pg";
import { markdownTable } from "./lib/ab.ts";
import { type GcPause, type TimedPause, netOfGc, observeOwnGc } from "./lib/gc.ts";
import { closedLoop } from "./lib/closed-loop.ts";
import { percentile } from "./lib/stack.ts";
import { startPlainWorker, withWorkerStack } from "./lib/worker.ts";

interface Options {
  concurrency: number;
  durationS: number;
  warmupS: number;
  /** The trivial route and the HTTP path alternate in this many slices each. */
  slices: number;
  /** workerd on CPU 0, everything else of the bench on CPU 1 (Linux, `taskset`). */
  pin: boolean;
  /** V8's collections per route (`--trace-gc`). */
  gc: boolean;
}

interface Phase {
  label: string;
  requests: number;
  errors: number;
  reqPerS: number;
  p50: number;
  p99: number;
  backendsPer1000: number;
  /** CPU milliseconds per request: workerd; Postgres (embedded only); this process (load, bridge, /sql endpoint). */
  cpu: { worker: number; postgres: number | undefined; bench: number };
  gc: { pauseMsPerS: number; longestMs: number; full: number; p99NetOfGc: number };
}

/** Processes whose CPU time is counted, found in /proc (Linux). */
interface Counted {
  workerd: () => number[];
  postmaster: number | undefined;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      concurrency: { type: "string", short: "c", default: "20" },
      duration: { type: "string", short: "d", default: "10" },
      warmup: { type: "string", short: "w", default: "2" },
      slices: { type: "string", short: "s", default: "5" },
      pin: { type: "boolean", default: false },
      gc: { type: "boolean", default: false },
    },
  });
  const int = (v: string, name: string, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`--${name} must be a whole number from 0 to ${max}`);
    return n;
  };
  return {
    concurrency: Math.max(1, int(values.concurrency, "concurrency", 500)),
    durationS: Math.max(1, int(values.duration, "duration", 600)),
    warmupS: int(values.warmup, "warmup", 60),
    slices: Math.max(1, int(values.slices, "slices", 100)),
    pin: values.pin,
    gc: values.gc,
  };
}

/**
 * The server's postmaster when it is the embedded one (a child of this process): its CPU and its
 * backends' count as Postgres'. A DATABASE_URL server's CPU is not ours to count: undefined.
 */
async function embeddedPostmaster(url: string): Promise<number | undefined> {
  if (process.env.DATABASE_URL) return undefined;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // A backend's parent is the postmaster (needs no privilege, unlike reading data_directory).
    const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    const stat = readFileSync(`/proc/${rows[0]!.pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } finally {
    await client.end();
  }
}

/** Postgres backends started so far in this database (PostgreSQL 14+). */
async function sessions(monitor: pg.Client): Promise<number> {
  // Backends report their counters when they exit or go idle, at most once a second.
  await sleep(1_500);
  await monitor.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await monitor.query<{ n: string }>(
    "SELECT sessions::text AS n FROM pg_stat_database WHERE datname = current_database()",
  );
  return Number(rows[0]!.n);
}

const TICK_MS = 10;
const SLICE_RAMP_S = 1;

/** CPU time of a process and of its children already reaped (Postgres backends that exited). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) * TICK_MS;
  } catch {
    return 0;
  }
}

function childrenOf(parent: number, name?: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent && (name === undefined || comm === name)) pids.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}

function cpuSnapshot(counted: Counted): { worker: number; postgres: number | undefined; bench: number } {
  const pm = counted.postmaster;
  const usage = process.cpuUsage();
  return {
    worker: counted.workerd().reduce((sum, pid) => sum + cpuMs(pid), 0),
    postgres: pm === undefined ? undefined : cpuMs(pm) + childrenOf(pm).reduce((sum, pid) => sum + cpuMs(pid), 0),
    bench: (usage.user + usage.system) / 1_000,
  };
}

/**
 * `--pin`: on Workers the isolate shares no core with the database or its proxy; here the Worker
 * gets CPU 0 to itself, and the load generator, the bridge, the /sql endpoint and an embedded
 * Postgres (its future backends included) share CPU 1. A DATABASE_URL server is left alone.
 * Every thread of each process is moved (`taskset -a`); workerd again after each restart.
 */
function pin(pids: Iterable<number>, cpu: number): void {
  for (const pid of pids) execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
}

/** The app's workerd, or the bare Worker's own. */
type Workerd = "app" | "bare";

/** One route's totals, summed over the slices it ran in. */
class Tally {
  readonly latencies: number[] = [];
  /** When each measured request was sent, same order as `latencies`. */
  readonly sentAt: number[] = [];
  errors = 0;
  elapsedS = 0;
  backends = 0;
  /** Requests of the unmeasured ramps: they start backends too, so they count for backends/1k. */
  rampRequests = 0;
  cpu = { worker: 0, postgres: 0, bench: 0 };
  /**
   * Collections that ended while this route's measured loop ran (ramps and warm-ups not counted):
   * when each line reached us (`performance.now()`), its length and kind.
   */
  readonly gcPauses: Array<TimedPause & { kind: string }> = [];
  readonly label: string;
  readonly urls: string[];
  /** False for the trivial route: it opens no connection, so the backends of a block are the other route's. */
  readonly usesDatabase: boolean;
  /** The workerd it runs on: only that one's collections stop it. */
  readonly runsOn: Workerd;
  constructor(label: string, urls: string[], usesDatabase: boolean, runsOn: Workerd = "app") {
    this.label = label;
    this.urls = urls;
    this.usesDatabase = usesDatabase;
    this.runsOn = runsOn;
  }

  /** `ownGc`: the bench process's collections over the whole run (observeOwnGc()). */
  result(hasPostgres: boolean, ownGc: TimedPause[]): Phase {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const requests = sorted.length + this.errors;
    return {
      label: this.label,
      requests,
      errors: this.errors,
      reqPerS: sorted.length / this.elapsedS,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      backendsPer1000: (this.backends / (requests + this.rampRequests)) * 1_000,
      cpu: {
        worker: this.cpu.worker / requests,
        postgres: hasPostgres ? this.cpu.postgres / requests : undefined,
        bench: this.cpu.bench / requests,
      },
      gc: {
        pauseMsPerS: this.gcPauses.reduce((sum, p) => sum + p.ms, 0) / this.elapsedS,
        longestMs: Math.max(0, ...this.gcPauses.map((p) => p.ms)),
        full: this.gcPauses.filter((p) => p.kind.startsWith("Mark-Compact")).length,
        p99NetOfGc: percentile(
          netOfGc(this.latencies, this.sentAt, [...this.gcPauses, ...ownGc]).sort((a, b) => a - b),
          99,
        ),
      },
    };
  }
}

/** The route whose measured loop is running: V8's collections are counted for it. */
let measuring: Tally | undefined;

/** Counts `source`'s collections for the route being measured, if it runs on that workerd. */
const countGc =
  (source: Workerd) =>
  (pause: GcPause): void => {
    if (measuring?.runsOn === source)
      measuring.gcPauses.push({ endAt: performance.now(), ms: pause.pauseMs, kind: pause.kind });
  };

/**
 * Runs the routes in alternating slices (A B A B…, `slices` each, `durationS` in all per route)
 * after one warm-up each. This machine's speed drifts by up to 1.6× over minutes (other tenants,
 * caches); slices put each route through the same drift, so their ratio holds where back-to-back
 * phases did not (the same build measured 22–38 % of the trivial route that way).
 */
async function interleaved(
  tallies: Tally[],
  opts: Options,
  monitor: pg.Client,
  counted: Counted,
  auth: Record<string, string>,
): Promise<void> {
  for (const t of tallies) {
    console.error(`[bench] warm-up: ${t.label}`);
    if (opts.warmupS > 0) await closedLoop(t.urls, opts.concurrency, opts.warmupS, auth);
  }
  const databaseRoutes = tallies.filter((t) => t.usesDatabase);
  if (databaseRoutes.length > 1) throw new Error("a block interleaves at most one database route");
  // Counted around the whole block: reading it per slice needs a pause (the counters are flushed
  // at most once a second), and pauses between slices showed up in the p99.
  const before = await sessions(monitor);
  const sliceS = opts.durationS / opts.slices;
  for (let slice = 1; slice <= opts.slices; slice++) {
    console.error(`[bench] slice ${slice}/${opts.slices}`);
    for (const t of tallies) {
      // Unmeasured: the first moments of a loop (new connections, a burst of 20) are not the route's.
      const ramp = await closedLoop(t.urls, opts.concurrency, SLICE_RAMP_S, auth);
      t.rampRequests += ramp.latencies.length + ramp.errors;
      const cpuBefore = cpuSnapshot(counted);
      measuring = t;
      const { latencies, sentAt, errors, elapsedS } = await closedLoop(t.urls, opts.concurrency, sliceS, auth);
      measuring = undefined;
      const cpuAfter = cpuSnapshot(counted);
      const sorted = [...latencies].sort((a, b) => a - b);
      console.error(
        `[bench]   ${t.label}: ${(latencies.length / elapsedS).toFixed(0)} req/s, p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms`,
      );
      for (const l of latencies) t.latencies.push(l);
      for (const at of sentAt) t.sentAt.push(at);
      t.errors += errors;
      t.elapsedS += elapsedS;
      t.cpu.worker += cpuAfter.worker - cpuBefore.worker;
      t.cpu.postgres += (cpuAfter.postgres ?? 0) - (cpuBefore.postgres ?? 0);
      t.cpu.bench += cpuAfter.bench - cpuBefore.bench;
    }
  }
  const started = (await sessions(monitor)) - before;
  if (databaseRoutes[0]) databaseRoutes[0].backends += started;
}

function table(phases: Phase[], gc: boolean): string {
  const trivial = phases[0]!;
  const rows = phases.map((p) => [
    p.label,
    p.reqPerS.toFixed(0),
    `${((p.reqPerS / trivial.reqPerS) * 100).toFixed(0)}%`,
    p.p50.toFixed(1),
    p.p99.toFixed(1),
    (p.p99 / p.p50).toFixed(1),
    p.backendsPer1000.toFixed(0),
    p.cpu.worker.toFixed(2),
    p.cpu.postgres === undefined ? "n/a" : p.cpu.postgres.toFixed(2),
    p.cpu.bench.toFixed(2),
    ...(gc
      ? [
          p.gc.pauseMsPerS.toFixed(1),
          p.gc.longestMs.toFixed(1),
          String(p.gc.full),
          (p.gc.p99NetOfGc / p.p50).toFixed(1),
        ]
      : []),
    String(p.errors),
  ]);
  const head = [
    "route / path",
    "req/s",
    "vs trivial",
    "p50 ms",
    "p99 ms",
    "p99/p50",
    "backends/1k req",
    "CPU ms/req: workerd",
    "Postgres",
    "load+bridge+/sql",
    ...(gc ? ["GC pause ms/s", "longest GC ms", "full GCs", "p99/p50 less GC pauses (workerd's, the bench's)"] : []),
    "errors",
  ];
  return markdownTable(head, rows);
}

/**
 * The runtime's own floor: a Worker that only answers "ok", on a workerd of its own, under the same
 * load. Its p99/p50 is what workerd and this machine do to any route's tail at this concurrency.
 */
async function bareWorker(
  opts: Options,
  monitor: pg.Client,
  counted: Counted,
  auth: Record<string, string>,
): Promise<Tally> {
  const worker = await startPlainWorker({
    script: 'export default { fetch() { return new Response("ok"); } };',
    compatibilityDate: "2026-10-01",
    output: opts.gc ? { onGc: countGc("bare") } : {},
  });
  try {
    if (opts.pin) pin(counted.workerd(), 0);
    const bare = new Tally('bare Worker: `new Response("ok")`, no app', [`${worker.url}/`], false, "bare");
    await interleaved([bare], { ...opts, slices: 1 }, monitor, counted, auth);
    return bare;
  } finally {
    await worker.dispose();
  }
}

const opts = options();
const ownGc = opts.gc ? observeOwnGc() : undefined;
await withWorkerStack(
  "db_paths",
  async (stack) => {
    const postmaster = await embeddedPostmaster(stack.databaseUrl);
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
