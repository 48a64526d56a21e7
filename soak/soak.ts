/**
 * `npm run soak -- [--minutes N] [--rate R] [--seed S]`: the chaos soak. A mixed workload at a fixed
 * arrival rate (open loop) runs against the local stack for --minutes while faults are injected on
 * a seeded schedule (printed first); then, with the load stopped and every fault healed, the
 * checker compares the recorded history with the database and the Worker's state returns to its
 * baseline. Writes reports/soak/<stamp>/{history.jsonl,summary.json,summary.txt,chart.svg}; exits 1
 * when an invariant fails. See docs/soak.md.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Inspector, heapSnapshot, retainedBytes } from "../dev/inspector.ts";
import { type Flag, parseCommandLine, parseFlags, usage } from "../bench/lib/cli.ts";
import { BUILT_WORKER, ROOT } from "../bench/lib/stack.ts";
import { type Invariant, bounded, checkDatabase, checkHistory } from "./checker.ts";
import type { ClientContext } from "./client.ts";
import { type AppliedFault, applyFault } from "./faults.ts";
import { History } from "./history.ts";
import { seeded } from "./random.ts";
import { describeSchedule, faultSchedule } from "./schedule.ts";
import { SOAK_APP, type SoakStack, soakConnection, startSoakStack } from "./stack.ts";
import { summarize, summaryText, writeReport } from "./report.ts";
import { type World, pickKind, runOperation, seedWorld } from "./workload.ts";

const FLAGS = {
  minutes: { arg: "n", help: "how long the load runs", default: 5, min: 1, max: 240 },
  rate: { arg: "r", help: "operations started per second (open loop)", default: 20, min: 1, max: 200 },
  seed: { arg: "s", help: "the workload's and the fault schedule's seed", default: 1, min: 0, max: 2 ** 31 - 1 },
} satisfies Record<string, Flag>;
const USAGE = usage(
  "npm run soak --",
  FLAGS,
  "Builds the Worker first (npm run build). Postgres: embedded by default; with DATABASE_URL set, a scratch database on that server.",
);

/** Operations of the warm-up, before the load (and the heap's baseline) starts. */
const WARM_UP_OPS = 200;
/** Operations in flight at most: past it an arrival is dropped (and counted), so the soak stays bounded. */
const MAX_IN_FLIGHT = 400;
/** How long the operations still running when the load stops may take to finish. */
const DRAIN_MS = 60_000;
/** How long the Worker and Postgres get to return to their baseline once everything is healed. */
const SETTLE_MS = 30_000;
const HEAP_TOLERANCE = 0.1;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function heapBytes(stack: SoakStack): Promise<number> {
  const inspector = await Inspector.connect(stack.inspector, "core:user:clinic-edge");
  try {
    return retainedBytes(await heapSnapshot(inspector));
  } finally {
    inspector.close();
  }
}

/** The Worker's in-flight gauges (`/metrics`), without the /metrics request itself. */
async function inflight(base: string, admin: string): Promise<Record<string, number>> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
  const text = await res.text();
  const gauges: Record<string, number> = {};
  for (const m of text.matchAll(/^(http_requests_in_flight|inflight\{kind="([\w-]+)"\}) (\d+(?:\.\d+)?)$/gm)) {
    gauges[m[2] ?? "http_requests_in_flight"] = Number(m[3]);
  }
  if (gauges.http_requests_in_flight !== undefined) gauges.http_requests_in_flight -= 1;
  if (gauges.request !== undefined) gauges.request -= 1;
  return gauges;
}

/** The Worker's client backends (the soak's own excluded), by application_name and state. */
async function backendsByApp(monitor: Awaited<ReturnType<typeof soakConnection>>): Promise<Map<string, number>> {
  const { rows } = await monitor.query<{ app: string; n: string }>(
    `SELECT application_name || ' (' || coalesce(state, '?') || ')' AS app, count(*) AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name <> $1 AND backend_type = 'client backend'
      GROUP BY 1 ORDER BY 2 DESC`,
    [SOAK_APP],
  );
  return new Map(rows.map((r) => [r.app, Number(r.n)]));
}

const total = (byApp: Map<string, number>): number => [...byApp.values()].reduce((a, b) => a + b, 0);

async function until(ms: number, done: () => Promise<boolean>): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await done()) return true;
    if (Date.now() > end) return false;
    await sleep(500);
  }
}

async function main(opts: { minutes: number; rate: number; seed: number }): Promise<number> {
  if (!existsSync(BUILT_WORKER)) throw new Error("dist/index.js is missing: run `npm run build` first");
  const totalMs = opts.minutes * 60_000;
  const schedule = faultSchedule(totalMs, seeded(opts.seed ^ 0x5eed));
  console.log(
    `[soak] seed ${opts.seed}, ${opts.minutes} min at ${opts.rate} op/s; fault schedule (seconds after the warm-up):\n${describeSchedule(schedule)}`,
  );

  const stamp = new Date().toISOString().replaceAll(":", "-").slice(0, 19);
  const dir = join(ROOT, "reports", "soak", `${stamp}-seed${opts.seed}`);
  await mkdir(dir, { recursive: true });
  const history = new History(join(dir, "history.jsonl"));
  const stack = await startSoakStack();
  const monitor = await soakConnection(stack.databaseUrl);
  try {
    console.log(`[soak] ${stack.where}; Worker at ${stack.base}`);
    const random = seeded(opts.seed);
    const zero = performance.now();
    let disconnectShare = 0;
    const stop = new AbortController();
    const ctx: ClientContext = {
      base: stack.base,
      history,
      random,
      now: () => Math.round(performance.now() - zero),
      disconnectShare: () => disconnectShare,
      stop: stop.signal,
    };
    let op = 0;
    const nextOp = (): number => ++op;
    const world: World = await seedWorld(ctx, random, nextOp);

    // Warm-up: first-use allocations and connections are not what the baseline should hold.
    const warmUp = async (): Promise<void> => {
      for (let i = 0; i < WARM_UP_OPS; i += 10)
        await Promise.all(
          Array.from({ length: 10 }, () => runOperation(ctx, world, random, nextOp(), pickKind(random))),
        );
      await sleep(1_000);
    };
    await warmUp();
    const baseline = { backends: total(await backendsByApp(monitor)), heap: await heapBytes(stack) };
    console.log(`[soak] warmed up: ${baseline.backends} backends, heap ${(baseline.heap / 1024).toFixed(0)} KiB`);

    const loadStart = ctx.now();
    const applied: AppliedFault[] = [];
    const faultRunner = (async () => {
      for (const w of schedule) {
        await sleep(loadStart + w.startMs - ctx.now());
        if (stop.signal.aborted) return;
        const f = await applyFault(
          {
            stack,
            monitor,
            hotDoctorIds: world.hot.map((d) => d.id),
            setDisconnectShare: (share) => (disconnectShare = share),
            // The new isolate's own post-warm-up heap: the same warm-up on top of the load, then measured (inside the window).
            onRestart: async () => {
              await warmUp();
              baseline.heap = await heapBytes(stack);
            },
          },
          { ...w, startMs: loadStart + w.startMs },
          () => ctx.now(),
        );
        applied.push(f);
        console.log(`[soak] ${(f.startMs / 1_000).toFixed(1)} s ${f.kind}: ${f.note}${f.error ? ` (${f.error})` : ""}`);
      }
    })();

    const running = new Set<Promise<void>>();
    let dropped = 0;
    const interval = 1_000 / opts.rate;
    for (let i = 0; ctx.now() < loadStart + totalMs; i++) {
      await sleep(loadStart + i * interval - ctx.now());
      if (running.size >= MAX_IN_FLIGHT) {
        dropped++;
        continue;
      }
      const p = runOperation(ctx, world, random, nextOp(), pickKind(random)).catch((err: unknown) =>
        console.error(`[soak] operation failed in the soak itself: ${String(err)}`),
      );
      running.add(p);
      void p.finally(() => running.delete(p));
    }
    console.log(`[soak] load over; draining ${running.size} operations`);
    await Promise.race([Promise.all(running), sleep(DRAIN_MS)]);
    stop.abort();
    await Promise.all(running);
    await faultRunner;
    await stack.outage(false);

    // Back to baseline: Postgres backends, in-flight gauges (Durable Object waits among them), heap.
    let lastByApp = new Map<string, number>();
    let lastBackends = 0;
    let lastGauges: Record<string, number> = {};
    await until(SETTLE_MS, async () => {
      lastByApp = await backendsByApp(monitor);
      lastBackends = total(lastByApp);
      lastGauges = await inflight(stack.base, world.admin);
      return lastBackends <= baseline.backends && Object.values(lastGauges).every((v) => v === 0);
    });
    // Whose they are, when too many stayed: the first thing to read in a failure.
    const leftOver =
      lastBackends > baseline.backends ? `; left: ${[...lastByApp].map(([app, n]) => `${app} ×${n}`).join(", ")}` : "";
    const heap = await heapBytes(stack);
    const heapChange = (heap - baseline.heap) / baseline.heap;
    const gaugeText = Object.entries(lastGauges)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    const after: Invariant[] = [
      bounded(
        "Postgres backends back to baseline",
        `client backends of the Worker after ${SETTLE_MS / 1_000} s at most: ${lastBackends} (baseline ${baseline.backends})${leftOver}`,
        lastBackends,
        lastBackends <= baseline.backends,
      ),
      bounded(
        "in-flight gauges back to zero",
        `/metrics http_requests_in_flight and inflight{kind} (do-wait, breaker-hop, db-connection…) besides the scrape itself: ${gaugeText}`,
        Object.values(lastGauges).reduce((a, b) => a + b, 0),
        Object.values(lastGauges).every((v) => v === 0),
      ),
      bounded(
        "isolate heap within ±10 %",
        `retained heap (inspector snapshot, after GC) ${(heap / 1024).toFixed(0)} KiB vs ${(baseline.heap / 1024).toFixed(0)} KiB post-warm-up: ${(heapChange * 100).toFixed(1)} %`,
        Math.round(heapChange * 1_000) / 10,
        Math.abs(heapChange) <= HEAP_TOLERANCE,
      ),
    ];
    if (dropped > 0) console.log(`[soak] ${dropped} arrivals dropped: ${MAX_IN_FLIGHT} operations were in flight`);

    await history.close();
    const invariants = [
      ...checkHistory(history.attempts, applied),
      ...(await checkDatabase(monitor, history.attempts)),
      ...after,
    ];
    const summary = summarize(history.attempts, applied, invariants, {
      seed: opts.seed,
      minutes: opts.minutes,
      loadStartMs: loadStart,
      rate: opts.rate,
      database: stack.where,
      heapMeasure:
        "retained bytes of a V8 heap snapshot over workerd's inspector, post-warm-up (re-taken after a restart) vs the end",
    });
    await writeReport(dir, summary, history.attempts);
    console.log(summaryText(summary));
    console.log(`[soak] report in ${dir}`);
    return summary.passed ? 0 : 1;
  } finally {
    await monitor.end();
    await stack.close();
  }
}

const opts = parseCommandLine((argv) => parseFlags(FLAGS, argv), USAGE, "[soak]");
if (typeof opts === "number") process.exitCode = opts;
else process.exitCode = await main(opts);
