/**
 * `npm run bench:deadlines -- [options]`: does a request's deadline stop the work in Postgres, or
 * only the wait? Measured against the deadline targets this project sets for clinic-edge (TARGET_*).
 *
 * Starts everything itself on the worker stack (bench/lib/worker.ts: a scratch database, the bridge,
 * the /sql endpoint, an admin token) and stops it at the end, on Ctrl-C or at --max-seconds. Workers:
 *   clinic-edge     as `wrangler deploy --dry-run` bundles it, once per DB_QUERY_PATH (--paths)
 *   Hono timeout()  bench/baseline-timeout-worker.ts (esbuild): the same route under Hono's timeout(),
 *                   which races a timer and tells Postgres nothing
 *
 * One round per Worker: a second connection holds a row lock (SELECT ... FOR UPDATE in an open
 * transaction) on one doctor; N PATCH /doctors/:id requests on that doctor are sent with budget B
 * (clinic-edge: X-Request-Timeout-Ms; baseline: its timeout() setting), each with its own
 * X-Request-Id, which both Workers put in their connections' application_name. pg_stat_activity
 * is polled every --poll-ms (bench/lib/pg-activity.ts); for every request:
 *   response − budget            when its whole response had arrived, minus B
 *   backend gone − response      when its backend was first seen gone (from its last sighting),
 *                                minus when its response arrived
 * A backend still there --bound-ms after its response counts as "still running at the bound"; the
 * lock is then released (ending the round), and how long such backends lived after their
 * response is reported too. A trigger (bench database only) records every UPDATE that really
 * committed, so the table also says how many 504s were followed by the write anyway.
 *
 * The machine is shared: each round also reports how busy all its cores were and how late this
 * process itself ran (bench/lib/machine.ts), so a tail caused by someone else's test run can be
 * told from our own. Only 127.0.0.1 is ever contacted; every wait is bounded.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { alignedTable } from "./lib/ab.ts";
import { bundleAsDeployed, bundleWorker, codeIdentity } from "./lib/bundle.ts";
import { type Flag, parseFlags, stopSignal, usage } from "./lib/cli.ts";
import { send } from "./lib/closed-loop.ts";
import { type MachineWatch, watchMachine } from "./lib/machine.ts";
import {
  ActivityPoller,
  StatementStops,
  committedUpdates,
  holdRowLock,
  noteCommittedUpdates,
  waitFor,
} from "./lib/pg-activity.ts";
import { LogTally } from "./lib/runtime-log.ts";
import { distribution, formatCounts, formatDistribution, wireCounters } from "./lib/stack.ts";
import { type WorkerStack, withWorkerStack } from "./lib/worker.ts";

const BASELINE_ENTRY = fileURLToPath(new URL("./baseline-timeout-worker.ts", import.meta.url));
/** The deadline targets this project sets for clinic-edge on this machine. */
const TARGET_OVER_BUDGET_P99_MS = 25;
const TARGET_GONE_P99_MS = 100;
/** Above this, the verdict says the round ran on a busy machine. */
const NOISY_CPU_PERCENT = 50;
/** What counts as a late response in RoundResult.late (ms over budget). */
const LATE_MS = 15;

const FLAGS = {
  requests: { short: "n", arg: "n", help: "requests per Worker", default: 50, min: 1, max: 500 },
  budget: { short: "b", arg: "ms", help: "each request's budget", default: 200, min: 10, max: 10_000 },
  concurrency: {
    short: "c",
    arg: "n",
    help: "requests in flight at once; 1 is sequential",
    default: 1,
    min: 1,
    max: 20,
  },
  paths: { arg: "http,ws", help: "clinic-edge's DB_QUERY_PATH values to measure", default: "http,ws" },
  "no-baseline": { switch: true, help: "skip the Hono timeout() Worker" },
  "bound-ms": {
    arg: "ms",
    help: "how long a backend may outlive its response (then the lock is released)",
    default: 2_000,
    min: 100,
    max: 60_000,
  },
  "drain-ms": {
    arg: "ms",
    help: "after the release, how long to wait for the remaining backends",
    default: 10_000,
    min: 100,
    max: 60_000,
  },
  "poll-ms": { arg: "ms", help: "pg_stat_activity polling period", default: 5, min: 1, max: 100 },
  warmup: {
    arg: "n",
    help: "unmeasured requests per Worker on an unlocked doctor first",
    default: 5,
    min: 0,
    max: 100,
  },
  "max-seconds": {
    arg: "s",
    help: "stop everything after this long, whatever happens",
    default: 900,
    min: 10,
    max: 3_600,
  },
  verbose: { switch: true, help: "echo the Workers' own log lines" },
  json: { switch: true, help: "print the results as JSON (progress still goes to stderr)" },
} satisfies Record<string, Flag>;

const USAGE = usage(
  "npm run bench:deadlines --",
  FLAGS,
  "Postgres: embedded by default; with DATABASE_URL set, a scratch database on that server.",
);

type Path = "http" | "ws";
const isPath = (p: string): p is Path => p === "http" || p === "ws";

/** The flags as the bench uses them (the JSON report's `options`); undefined for --help. */
function parseOptions(argv: string[]) {
  const f = parseFlags(FLAGS, argv);
  if (!f) return undefined;
  const paths = [
    ...new Set(
      f.paths
        .split(",")
        .map((p) => p.trim())
        .filter((p) => p !== ""),
    ),
  ];
  const bad = paths.find((p) => !isPath(p));
  if (bad !== undefined) throw new Error(`--paths takes http and/or ws, got "${bad}"`);
  return {
    requests: f.requests,
    budgetMs: f.budget,
    concurrency: f.concurrency,
    paths: paths.filter(isPath),
    baseline: !f["no-baseline"],
    boundMs: f["bound-ms"],
    drainMs: f["drain-ms"],
    pollMs: f["poll-ms"],
    warmup: f.warmup,
    maxSeconds: f["max-seconds"],
    verbose: f.verbose,
    json: f.json,
  };
}

type Options = NonNullable<ReturnType<typeof parseOptions>>;
type RoundResult = Awaited<ReturnType<typeof runRound>>;

const say = (line: string): void => console.error(`[bench:deadlines] ${line}`);

/** Two doctors of the bench's own, one to lock and one to warm up on; committed UPDATEs noted by request. */
async function prepareDatabase(
  db: pg.Client,
): Promise<{ locked: string; warm: string; serverVersion: string; maxConnections: number }> {
  await noteCommittedUpdates(db, "doctors");
  const { rows } = await db.query<{ id: string }>(
    "INSERT INTO doctors (name, specialty) VALUES ('Bench Locked', 'cardiology'), ('Bench Warm', 'cardiology') RETURNING id",
  );
  const server = await db.query<{ version: string; max: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('max_connections') AS max",
  );
  return {
    locked: rows[0]!.id,
    warm: rows[1]!.id,
    serverVersion: server.rows[0]!.version,
    maxConnections: Number(server.rows[0]!.max),
  };
}

interface Target {
  key: string;
  label: string;
  /** application_name = `${prefix}:${requestId}` */
  prefix: string;
  /** Headers that give a request its budget. */
  budgetHeaders: (budgetMs: number) => Record<string, string>;
  /** What the Worker logged during its round. */
  log: LogTally;
  /** Wire counters for one application_name, where the Worker's path has them. */
  wire: (applicationName: string) => Record<string, number> | undefined;
  /** Starts the Worker for its round; its origin. */
  start: () => Promise<string>;
}

interface RequestRecord {
  applicationName: string;
  sentAt: number;
  respondedAt: number;
  status: string;
}

/** What a run has before its stack starts. */
interface Run {
  opts: Options;
  signal: AbortSignal;
  code: string;
  baselineBundle: string;
  stops: StatementStops | undefined;
}

interface RoundContext extends Run {
  stack: WorkerStack;
  lockedId: string;
  warmId: string;
  runTag: string;
}

/** A PATCH of one doctor: `If-Match: *` because the route requires a precondition and the bench does not track versions. */
function patchDoctor(agent: Agent, url: string, headers: Record<string, string>, specialty: string, timeoutMs: number) {
  const body = JSON.stringify({ specialty });
  return send(agent, url, {
    method: "PATCH",
    headers: { "content-type": "application/json", "if-match": "*", ...headers },
    body,
    timeoutMs,
  });
}

async function warmUp(target: Target, url: string, ctx: RoundContext, agent: Agent): Promise<void> {
  const statuses: string[] = [];
  let sample = "";
  for (let i = 0; i < ctx.opts.warmup && !ctx.signal.aborted; i++) {
    const headers = {
      ...ctx.stack.auth,
      "x-request-id": `${ctx.runTag}w-${target.key}-${i}`,
      ...target.budgetHeaders(5_000),
    };
    const reply = await patchDoctor(agent, `${url}/doctors/${ctx.warmId}`, headers, "cardiology", 30_000);
    statuses.push(reply.status);
    if (reply.status !== "200") sample ||= reply.body.slice(0, 400);
  }
  if (ctx.opts.warmup > 0 && !statuses.includes("200")) {
    throw new Error(`${target.label}: no warm-up request succeeded (${statuses.join(", ")}): ${sample}`);
  }
}

/**
 * One Worker's round: its warm-up, then the requests on the locked doctor, then the bound and the
 * lock's release; what became of each request (table() names each figure).
 */
async function runRound(target: Target, ctx: RoundContext) {
  const { opts, signal, stack } = ctx;
  const url = await target.start();
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const stopsBefore = ctx.stops?.snapshot();
  const tag = `${ctx.runTag}-${target.key}`;
  const poller = new ActivityPoller(stack.databaseUrl, `:${tag}-`, opts.pollMs);
  const records: RequestRecord[] = [];
  const sampleBodies: Record<string, string> = {};
  let watch: MachineWatch | undefined;
  let lock: { release(): Promise<void> } | undefined;
  try {
    await warmUp(target, url, ctx, agent);
    lock = await holdRowLock(stack.databaseUrl, "doctors", ctx.lockedId);
    await poller.start();
    watch = watchMachine();
    let next = 0;
    const sender = async (): Promise<void> => {
      while (next < opts.requests && !signal.aborted) {
        const requestId = `${tag}-${next++}`;
        const applicationName = `${target.prefix}:${requestId}`;
        poller.track(applicationName);
        const headers = { ...stack.auth, "x-request-id": requestId, ...target.budgetHeaders(opts.budgetMs) };
        const sentAt = performance.now();
        const reply = await patchDoctor(
          agent,
          `${url}/doctors/${ctx.lockedId}`,
          headers,
          "neurology",
          opts.budgetMs + 30_000,
        );
        records.push({ applicationName, sentAt, respondedAt: performance.now(), status: reply.status });
        sampleBodies[reply.status] ??= reply.body.slice(0, 300);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, sender));
    // Over the requests' part of the round: the bound and the drain are mostly idle waiting.
    watch.stop();

    // Every backend either gone, or given its full bound after its response.
    const settled = (r: RequestRecord): boolean =>
      poller.sighting(r.applicationName).goneAt !== undefined || performance.now() >= r.respondedAt + opts.boundMs;
    await waitFor(() => records.every(settled), opts.boundMs + 1_000, signal);
    const stillThere = poller.present().length;
    if (stillThere > 0)
      say(`${target.label}: ${stillThere} backend(s) still there after the bound; releasing the lock`);
    await lock.release();
    await waitFor(() => poller.present().length === 0, opts.drainMs, signal);
  } finally {
    watch?.stop();
    await lock?.release().catch(() => {});
    await poller.stop().catch(() => {});
    agent.destroy();
  }
  if (poller.error) throw new Error(`${target.label}: polling pg_stat_activity failed`, { cause: poller.error });
  // The server's log reaches us through a pipe: give its last lines a moment.
  if (ctx.stops) await delay(100);
  const serverStops = ctx.stops && stopsBefore ? StatementStops.since(stopsBefore, ctx.stops.snapshot()) : undefined;
  const writes = await committedUpdates(stack.monitor, `:${tag}-`);
  const fates = poller.afterResponse(records, opts.boundMs);
  const statuses: Record<string, number> = {};
  const wire: Record<string, number> = {};
  for (const r of records) {
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    for (const [k, v] of Object.entries(target.wire(r.applicationName) ?? {})) wire[k] = (wire[k] ?? 0) + v;
  }
  // Late responses, and those among them that overlapped a stall of this process between deadline and arrival.
  const lateOnes = records.filter((r) => r.respondedAt - r.sentAt - opts.budgetMs > LATE_MS);
  return {
    target: target.label,
    requests: records.length,
    budgetMs: opts.budgetMs,
    statuses,
    overBudget: distribution(records.map((r) => r.respondedAt - r.sentAt - opts.budgetMs)),
    goneAfterResponse: distribution(fates.gone),
    neverSeen: fates.neverSeen,
    stillAtBound: fates.stillAtBound,
    stayed: distribution(fates.stayed),
    leftAfterDrain: fates.leftAtEnd,
    writesAfterError: records.filter((r) => !r.status.startsWith("2") && writes.has(r.applicationName)).length,
    lastStates: fates.lastStates,
    wire,
    // Why Postgres stopped statements during the round (embedded server only: undefined).
    serverStops,
    poll: poller.timing(),
    // The machine while the requests were sent: a noisy neighbour shows here.
    machine: watch.stop(),
    late: {
      count: lateOnes.length,
      duringStall: lateOnes.filter((r) => watch.stalledWithin(r.sentAt + opts.budgetMs, r.respondedAt) > 0).length,
    },
    workerLog: { byLevel: { ...target.log.byLevel }, errors: { ...target.log.errors } },
    sampleBodies,
  };
}

const fmt = (n: number): string => (Number.isNaN(n) ? "-" : n.toFixed(1));

function table(results: RoundResult[], opts: Options): string {
  const rows: Array<[string, (r: RoundResult) => string]> = [
    ["requests (budget)", (r) => `${r.requests} (${r.budgetMs} ms)`],
    ["status codes", (r) => formatCounts(r.statuses)],
    ["response − budget, ms  p50/p90/p99/max", (r) => formatDistribution(r.overBudget)],
    ["backend gone − response, ms  p50/p90/p99/max", (r) => formatDistribution(r.goneAfterResponse)],
    [`still running ${opts.boundMs} ms after response`, (r) => String(r.stillAtBound)],
    [
      "  …they went, ms after response  p50/max",
      (r) => (r.stayed.n === 0 ? "-" : `${fmt(r.stayed.p50)} / ${fmt(r.stayed.max)}`),
    ],
    ["still there after lock release + drain", (r) => String(r.leftAfterDrain)],
    ["UPDATE committed after a non-2xx answer", (r) => String(r.writesAfterError)],
    ["backends never seen by the poller", (r) => String(r.neverSeen)],
    ["backend state at last sighting", (r) => formatCounts(r.lastStates)],
    ["wire (bridge or /sql endpoint)", (r) => formatCounts(r.wire)],
    [
      "Postgres log: statements stopped by",
      (r) => (r.serverStops ? formatCounts(r.serverStops) : "(server log not read)"),
    ],
    [
      "poll period p50/p99, round trip p50 (ms)",
      (r) => `${fmt(r.poll.periodP50)} / ${fmt(r.poll.periodP99)}, ${fmt(r.poll.roundTripP50)}`,
    ],
    [
      "machine CPU busy while sending (all processes)",
      (r) => `${fmt(r.machine.cpuBusyPercent)} % of ${r.machine.cores} cores`,
    ],
    [
      "bench event-loop delay p99/max (ms)",
      (r) => `${fmt(r.machine.loopDelayP99Ms)} / ${fmt(r.machine.loopDelayMaxMs)}`,
    ],
    [
      `responses > ${LATE_MS} ms late / of which during a bench stall`,
      (r) => `${r.late.count} / ${r.late.duringStall}`,
    ],
    ["Worker log lines by level", (r) => formatCounts(r.workerLog.byLevel)],
  ];
  return alignedTable(
    ["", ...results.map((r) => r.target)],
    rows.map(([name, cell]) => [name, ...results.map(cell)]),
  );
}

function verdicts(results: RoundResult[]): string[] {
  return results
    .filter((r) => r.target.startsWith("clinic-edge"))
    .map((r) => {
      const a = r.overBudget.p99 <= TARGET_OVER_BUDGET_P99_MS;
      const b = r.goneAfterResponse.n === r.requests && r.goneAfterResponse.p99 <= TARGET_GONE_P99_MS;
      // The bench's own stack (workerd, Postgres, this process polling every 5 ms) keeps the
      // machine ~15-20 % busy; far above that, others are competing for the two cores.
      const noisy =
        r.machine.cpuBusyPercent > NOISY_CPU_PERCENT
          ? ` [machine ${fmt(r.machine.cpuBusyPercent)} % busy during the round: other load, not a clean measurement]`
          : "";
      return (
        `${r.target}: response − budget p99 ${fmt(r.overBudget.p99)} ms (target ≤ ${TARGET_OVER_BUDGET_P99_MS}) ${a ? "met" : "MISSED"}; ` +
        `backend gone − response p99 ${fmt(r.goneAfterResponse.p99)} ms over ${r.goneAfterResponse.n}/${r.requests} (target ≤ ${TARGET_GONE_P99_MS}) ${b ? "met" : "MISSED"}${noisy}`
      );
    });
}

/** Where the clinic-edge Worker's lines are counted: the tally of the target whose round it is. */
let edgeLog: LogTally | undefined;

/** The rounds on a started stack, and the report. */
async function measure(stack: WorkerStack, run: Run): Promise<void> {
  const { opts, signal, code, baselineBundle } = run;
  say(`database: ${stack.where}`);
  const seeded = await prepareDatabase(stack.monitor);
  if (opts.baseline && opts.requests + 30 > seeded.maxConnections) {
    say(
      `warning: the baseline's backends pile up on the lock (${opts.requests} of them) and max_connections is ${seeded.maxConnections}`,
    );
  }
  const targets: Target[] = opts.paths.map((path) => {
    const log = new LogTally();
    const start = async (): Promise<string> => {
      edgeLog = log;
      await stack.configure({ DB_QUERY_PATH: path });
      return stack.base;
    };
    const budgetHeaders = (ms: number) => ({ "x-request-timeout-ms": String(ms) });
    return {
      key: `edge-${path}`,
      label: `clinic-edge (${path})`,
      prefix: "clinic-edge",
      budgetHeaders,
      log,
      wire: wireCounters(stack.services, path),
      start,
    };
  });
  if (opts.baseline) {
    const log = new LogTally();
    const start = () =>
      stack.startSideWorker(
        baselineBundle,
        { TIMEOUT_MS: String(opts.budgetMs) },
        { onLine: log.count, echo: opts.verbose ? "all" : "none" },
      );
    targets.push({
      key: "hono",
      label: "Hono timeout()",
      prefix: "hono-timeout",
      budgetHeaders: () => ({}),
      log,
      wire: wireCounters(stack.services, "ws"),
      start,
    });
  }
  // performance.now() counts from the process' start: bundling, database and services included.
  say(
    `ready in ${(performance.now() / 1000).toFixed(1)} s (Postgres ${seeded.serverVersion}); ` +
      `${opts.requests} requests per Worker, budget ${opts.budgetMs} ms, concurrency ${opts.concurrency}`,
  );

  const ctx: RoundContext = {
    stack,
    lockedId: seeded.locked,
    warmId: seeded.warm,
    runTag: `dl${Date.now().toString(36)}`,
    ...run,
  };
  const results: RoundResult[] = [];
  for (const target of targets) {
    if (signal.aborted) break;
    say(`${target.label}: round of ${opts.requests}`);
    results.push(await runRound(target, ctx));
  }
  if (signal.aborted) throw signal.reason;

  if (opts.json) {
    console.log(
      JSON.stringify({ database: stack.where, postgres: seeded.serverVersion, code, options: opts, results }, null, 2),
    );
    return;
  }
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
  console.log(
    `\n${stack.where}, PostgreSQL ${seeded.serverVersion}; N=${opts.requests}, budget ${opts.budgetMs} ms, concurrency ${opts.concurrency}; load average ${load}`,
  );
  console.log(`${code}\n`);
  console.log(table(results, opts));
  console.log("");
  for (const v of verdicts(results)) console.log(v);
  for (const r of results) {
    for (const [summary, n] of Object.entries(r.workerLog.errors)) console.log(`${r.target} logged ${n}×: ${summary}`);
    for (const [status, body] of Object.entries(r.sampleBodies))
      if (!status.startsWith("2") && opts.verbose) console.log(`${r.target} ${status}: ${body}`);
  }
}

async function main(): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`[bench:deadlines] ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    console.log(USAGE);
    return 0;
  }

  const stop = stopSignal(opts.maxSeconds);
  const buildDir = await mkdtemp(join(tmpdir(), "clinic-edge-bench-build-"));
  try {
    const server = process.env.DATABASE_URL;
    if (server && !["127.0.0.1", "localhost", "[::1]"].includes(new URL(server).hostname)) {
      throw new Error("DATABASE_URL must point at 127.0.0.1 (this bench only talks to this machine)");
    }
    say("bundling clinic-edge (wrangler deploy --dry-run) and the baseline (esbuild)");
    const [edgeBundle, baselineBundle] = await Promise.all([
      bundleAsDeployed(join(buildDir, "clinic-edge"), stop.signal),
      bundleWorker(BASELINE_ENTRY, join(buildDir, "baseline")),
    ]);
    const code = await codeIdentity(edgeBundle, stop.signal);
    say(code);
    // Only the embedded server's log comes to this process.
    const stops = server ? undefined : new StatementStops();
    const run: Run = { opts, signal: stop.signal, code, baselineBundle, stops };
    await withWorkerStack("deadlines", (stack) => measure(stack, run).finally(() => say("stopping")), {
      scriptPath: edgeBundle,
      // The bench adds the two doctors it needs; the rest of the seed would only slow the start.
      seed: false,
      postgresLog: stops?.add,
      onLine: (log) => edgeLog?.count(log),
      echo: opts.verbose ? "all" : "none",
    });
    return 0;
  } catch (err) {
    say(
      err instanceof Error
        ? `${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ""}`
        : String(err),
    );
    return 1;
  } finally {
    stop.dispose();
    await rm(buildDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
