/**
 * How busy the machine was while a bench measured (every core, every process: other people's test
 * runs included) and how late the bench process itself ran. The machine is shared: with these, a
 * tail caused by someone else's load can be told from the code's own.
 */
import { cpus } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { round1 } from "./stack.ts";

export interface MachineSample {
  cpuBusyPercent: number;
  cores: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** A 1 ms timer firing later than this counts as a stall of this process. */
export const STALL_MS = 5;

export interface MachineWatch {
  /** Stops watching (again: the same figures); the figures since watchMachine(). */
  stop(): MachineSample;
  /** Milliseconds inside [from, to] (performance.now()) during which this process did not run. */
  stalledWithin(from: number, to: number): number;
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const { times } of cpus()) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}

/** Starts watching the machine's CPU, this process' event loop and its stalls. */
export function watchMachine(): MachineWatch {
  const before = cpuTimes();
  const loopDelay = monitorEventLoopDelay({ resolution: 2 });
  loopDelay.enable();
  const stalls: Array<[from: number, to: number]> = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > STALL_MS) stalls.push([last, now]);
    last = now;
  }, 1);
  let sample: MachineSample | undefined;
  return {
    stop() {
      if (sample) return sample;
      clearInterval(timer);
      loopDelay.disable();
      const after = cpuTimes();
      const ms = (ns: number): number => round1(loopDelay.count > 0 ? ns / 1e6 : Number.NaN);
      sample = {
        cpuBusyPercent: round1(100 * (1 - (after.idle - before.idle) / Math.max(1, after.total - before.total))),
        cores: cpus().length,
        loopDelayP99Ms: ms(loopDelay.percentile(99)),
        loopDelayMaxMs: ms(loopDelay.max),
      };
      return sample;
    },
    stalledWithin(from, to) {
      let ms = 0;
      for (const [a, b] of stalls) ms += Math.max(0, Math.min(b, to) - Math.max(a, from));
      return ms;
    },
  };
}
