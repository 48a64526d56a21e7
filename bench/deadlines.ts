/**
 * `npm run bench:deadlines -- [options]`: does a request's deadline stop the work in Postgres, or
 * only the wait? Measured against the deadline targets this project sets for clinic-edge (TARGET_*
 * in ./deadlines/report.ts; the flags are in ./deadlines/options.ts, a round in ./deadlines/round.ts).
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
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleAsDeployed, bundleWorker, codeIdentity } from "./lib/bundle.ts";
import { parseCommandLine, stopSignal } from "./lib/cli.ts";
import { StatementStops } from "./lib/pg-activity.ts";
import { LogTally } from "./lib/runtime-log.ts";
import { wireCounters } from "./lib/stack.ts";
import { type WorkerStack, withWorkerStack } from "./lib/worker.ts";
import { USAGE, parseOptions } from "./deadlines/options.ts";
import { printReport } from "./deadlines/report.ts";
import {
  type RoundContext,
  type RoundResult,
  type Run,
  type Target,
  prepareDatabase,
  runRound,
  say,
} from "./deadlines/round.ts";

const BASELINE_ENTRY = fileURLToPath(new URL("./baseline-timeout-worker.ts", import.meta.url));

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

  printReport(results, opts, { database: stack.where, postgres: seeded.serverVersion, code });
}

async function main(): Promise<number> {
  const opts = parseCommandLine(parseOptions, USAGE, "[bench:deadlines]");
  if (typeof opts === "number") return opts;

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
