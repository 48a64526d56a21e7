/**
 * `npm run build && npm run bench:db-paths [-- -c 20 -d 15 -w 3]`: the cost of the uncached
 * database path, side by side, on workerd directly (Miniflare, no `wrangler dev` proxy in front):
 *
 *   GET /healthz                             the trivial route: no database
 *   GET /patients/:id, DB_QUERY_PATH=ws      a WebSocket, a Postgres startup and a backend per request
 *   GET /patients/:id, DB_QUERY_PATH=http    one HTTP round trip to a warm pool (dev/sql-endpoint.ts)
 *
 * Same built Worker (dist/index.js from `npm run build`), same database, same load: a closed loop of
 * `--concurrency` requests in flight for `--duration` seconds after `--warmup`, spread over the
 * seeded patients. Prints req/s, p50, p99, the Postgres backends started per 1,000 requests
 * (pg_stat_database.sessions before and after each phase), and the CPU each request cost workerd,
 * Postgres (embedded only: a shared server's CPU is not ours to count) and this process (the load
 * generator, the bridge and the /sql endpoint), read from /proc (Linux).
 *
 * The database: a throw-away embedded PostgreSQL, migrated and seeded; with DATABASE_URL, that
 * server instead, in a scratch database created and dropped here (bench/lib/stack.ts). Requests
 * carry the bench's admin token; the abuse limits are off.
 */
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import pg from "pg";
import { markdownTable } from "./lib/ab.ts";
import { closedLoop } from "./lib/closed-loop.ts";
import { percentile } from "./lib/stack.ts";
import { withWorkerStack } from "./lib/worker.ts";

interface Options {
  concurrency: number;
  durationS: number;
  warmupS: number;
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


const load = (urls: string[], opts: Options, seconds: number, auth: Record<string, string>) =>
  closedLoop(urls, opts.concurrency, seconds, auth);

async function phase(
  label: string,
  urls: string[],
  opts: Options,
  monitor: pg.Client,
  counted: Counted,
  auth: Record<string, string>,
): Promise<Phase> {
  console.error(`[bench] ${label}`);
  if (opts.warmupS > 0) await load(urls, opts, opts.warmupS, auth);
  const before = await sessions(monitor);
  const cpuBefore = cpuSnapshot(counted);
  const { latencies, errors, elapsedS } = await load(urls, opts, opts.durationS, auth);
  const cpuAfter = cpuSnapshot(counted);
  const started = (await sessions(monitor)) - before;
  latencies.sort((a, b) => a - b);
  const requests = latencies.length + errors;
  return {
    label,
    requests,
    errors,
    reqPerS: latencies.length / elapsedS,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    backendsPer1000: (started / requests) * 1_000,
    cpu: {
      worker: (cpuAfter.worker - cpuBefore.worker) / requests,
      postgres: cpuAfter.postgres === undefined ? undefined : (cpuAfter.postgres - cpuBefore.postgres!) / requests,
      bench: (cpuAfter.bench - cpuBefore.bench) / requests,
    },
  };
}

function table(phases: Phase[]): string {
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
    String(p.errors),
  ]);
  const head = [
    "route / path", "req/s", "vs trivial", "p50 ms", "p99 ms", "p99/p50", "backends/1k req",
    "CPU ms/req: workerd", "Postgres", "load+bridge+/sql", "errors",
  ];
  return markdownTable(head, rows);
}

const opts = options();
await withWorkerStack("db_paths", async (stack) => {
  const postmaster = await embeddedPostmaster(stack.databaseUrl);
  await stack.configure({ DB_QUERY_PATH: "ws" });
  const patientUrls = stack.patients.map((id) => `${stack.base}/patients/${id}`);
  console.error(`[bench] c=${opts.concurrency}, ${opts.durationS} s per phase after ${opts.warmupS} s warm-up, ${stack.patients.length} patients`);
  // Miniflare restarts workerd on setOptions: look the process up each time.
  const counted: Counted = { workerd: () => childrenOf(process.pid, "workerd"), postmaster };
  const { monitor, auth } = stack;
  const phases: Phase[] = [];
  phases.push(await phase("GET /healthz (trivial)", [`${stack.base}/healthz`], opts, monitor, counted, auth));
  phases.push(await phase("GET /patients/:id, WebSocket per request", patientUrls, opts, monitor, counted, auth));
  await stack.configure({ DB_QUERY_PATH: "http" });
  phases.push(await phase("GET /patients/:id, HTTP path", patientUrls, opts, monitor, counted, auth));
  console.log(table(phases));
});
