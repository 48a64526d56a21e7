/**
 * V8's garbage collector as the benches see it: `--trace-gc` turned on for a Miniflare's workerd,
 * its lines parsed, and what the stop-the-world pauses did to each request's latency.
 */
import { existsSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";

/** One stop-the-world collection, as V8 reports it. */
export interface GcPause {
  /** `Scavenge`, `Mark-Compact`, `Mark-Compact (reduce)`… */
  kind: string;
  /** Time the isolate's thread spent in the collection. */
  pauseMs: number;
}

// [pid:0xisolate]   1234 ms: Scavenge 3.6 (4.6) -> 3.3 (5.3) MB, pooled: 0.0 MB, 1.35 / 0.00 ms (…
const GC_LINE =
  /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: ([A-Za-z -]+(?: \(reduce\))?) [\d.]+ \([\d.]+\) -> .*?, ([\d.]+) \/ [\d.]+ ms/;

export function parseGcLine(line: string): GcPause | undefined {
  const match = GC_LINE.exec(line);
  return match ? { kind: match[1]!.trim(), pauseMs: Number(match[2]) } : undefined;
}

const LIBSTDBUF = "/usr/libexec/coreutils/libstdbuf.so";

/**
 * The Miniflare settings that make workerd report each collection as it happens: V8's `--trace-gc`
 * (Miniflare reads its V8 flags from this variable only) and, where coreutils' libstdbuf is there,
 * line-buffered stdout. V8 prints with stdio, which buffers a pipe by 4 KiB: without it the lines
 * reach us seconds late and would be counted for the wrong route. Linux only.
 */
export function gcTracing(): { unsafeRuntimeEnv: Record<string, string> } {
  if (!existsSync(LIBSTDBUF))
    throw new Error(`--gc needs ${LIBSTDBUF} (Debian's coreutils) to read V8's GC lines as they come`);
  process.env.MINIFLARE_WORKERD_V8_FLAGS = "--trace-gc";
  return { unsafeRuntimeEnv: { LD_PRELOAD: LIBSTDBUF, _STDBUF_O: "L" } };
}

/** A pause placed in time: its end (`performance.now()`) and its length, ms. */
export interface TimedPause {
  endAt: number;
  ms: number;
}

/**
 * This process's own collections, as they happen: they stop the load generator's clock as surely
 * as workerd's stop the Worker. Node reports each one through perf_hooks.
 */
export function observeOwnGc(): { pauses: TimedPause[]; stop(): void } {
  const pauses: TimedPause[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push({ endAt: entry.startTime + entry.duration, ms: entry.duration });
  });
  observer.observe({ entryTypes: ["gc"] });
  return { pauses, stop: () => observer.disconnect() };
}

/**
 * Each request's latency less the time it spent in flight while workerd's thread was stopped for a
 * collection (`pauses`, from any process in the path, in any order): how the tail would look if no
 * collector stopped the world. A bound, not a forecast: it does not take out the backlog a pause
 * leaves (at most the other requests in flight, in this closed loop). A workerd pause is placed by
 * when its line arrived, a few ms late at most (line-buffered: gcTracing()).
 */
export function netOfGc(latencies: number[], sentAt: number[], unordered: TimedPause[]): number[] {
  const pauses = [...unordered].sort((a, b) => a.endAt - a.ms - (b.endAt - b.ms));
  return latencies.map((latency, i) => {
    const from = sentAt[i]!;
    const to = from + latency;
    let stopped = 0;
    for (const p of pauses) {
      if (p.endAt - p.ms >= to) break;
      stopped += Math.max(0, Math.min(to, p.endAt) - Math.max(from, p.endAt - p.ms));
    }
    return latency - stopped;
  });
}
