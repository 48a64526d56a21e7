/**
 * How bench:db-paths loads its routes: in alternating slices, each slice's CPU and V8's collections
 * counted for the route it ran, and the bare Worker on a workerd of its own.
 */
import type pg from "pg";
import { closedLoop } from "../lib/closed-loop.ts";
import { refuseOnFailures } from "../lib/failures.ts";
import type { GcPause } from "../lib/gc.ts";
import { sessionsStarted } from "../lib/pg-activity.ts";
import { type Counted, cpuSnapshot, pin } from "../lib/proc.ts";
import { percentile } from "../lib/stack.ts";
import { startPlainWorker } from "../lib/worker.ts";
import { Tally, type Workerd } from "./tally.ts";

export interface Options {
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

const SLICE_RAMP_S = 1;

/** The route whose measured loop is running: V8's collections are counted for it. */
let measuring: Tally | undefined;

/** Counts `source`'s collections for the route being measured, if it runs on that workerd. */
export const countGc =
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
export async function interleaved(
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
  const before = await sessionsStarted(monitor);
  const sliceS = opts.durationS / opts.slices;
  for (let slice = 1; slice <= opts.slices; slice++) {
    console.error(`[bench] slice ${slice}/${opts.slices}`);
    for (const t of tallies) {
      // Unmeasured: the first moments of a loop (new connections, a burst of 20) are not the route's.
      const ramp = await closedLoop(t.urls, opts.concurrency, SLICE_RAMP_S, auth);
      t.rampRequests += ramp.latencies.length + ramp.errors;
      const cpuBefore = cpuSnapshot(counted);
      measuring = t;
      const { latencies, sentAt, errors, statuses, elapsedS } = await closedLoop(
        t.urls,
        opts.concurrency,
        sliceS,
        auth,
      );
      measuring = undefined;
      refuseOnFailures(`${t.label}, slice ${slice}`, statuses);
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
  const started = (await sessionsStarted(monitor)) - before;
  if (databaseRoutes[0]) databaseRoutes[0].backends += started;
}

/**
 * The runtime's own floor: a Worker that only answers "ok", on a workerd of its own, under the same
 * load. Its p99/p50 is what workerd and this machine do to any route's tail at this concurrency.
 */
export async function bareWorker(
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
