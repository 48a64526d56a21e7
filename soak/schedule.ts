/**
 * The fault schedule: which fault starts when and for how long, drawn from the seed before the
 * load starts (and printed), so a failing run can be replayed. Faults never overlap: each window is
 * followed by a quiet gap, so an error can be traced to the one fault that could cause it.
 */
import type { Random } from "./random.ts";

export const FAULT_KINDS = [
  "pg-terminate",
  "db-outage",
  "lock-contention",
  "insurer-down",
  "insurer-slow",
  "insurer-flaky",
  "client-disconnects",
  "worker-restart",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultWindow {
  kind: FaultKind;
  /** Milliseconds after the load started. */
  startMs: number;
  durationMs: number;
}

/** How long after a window ends a 503/504 still counts as the fault's (retries, breaker reopening, reconnects). */
export const GRACE_MS = 5_000;
/** No fault in the first and last seconds: a warm start and a clean end to measure against. */
const QUIET_EDGE_MS = 10_000;

const DURATION_MS: Record<FaultKind, readonly [number, number]> = {
  "pg-terminate": [500, 500],
  "db-outage": [2_000, 5_000],
  "lock-contention": [2_000, 4_000],
  "insurer-down": [3_000, 8_000],
  "insurer-slow": [3_000, 8_000],
  "insurer-flaky": [3_000, 8_000],
  "client-disconnects": [3_000, 6_000],
  "worker-restart": [1_000, 1_000],
};

/**
 * Windows from QUIET_EDGE_MS to `totalMs - QUIET_EDGE_MS`, each kind in turn (shuffled per round) so
 * a two-minute run meets every kind once, separated by a grace period and 1–3 s more.
 */
export function faultSchedule(totalMs: number, random: Random): FaultWindow[] {
  const windows: FaultWindow[] = [];
  let at = QUIET_EDGE_MS;
  for (;;) {
    const round = shuffled(FAULT_KINDS, random);
    for (const kind of round) {
      const [min, max] = DURATION_MS[kind];
      const durationMs = random.int(min, max);
      if (at + durationMs > totalMs - QUIET_EDGE_MS) return windows;
      windows.push({ kind, startMs: at, durationMs });
      at += durationMs + GRACE_MS + random.int(1_000, 3_000);
    }
  }
}

/** Fisher–Yates with the seeded PRNG. */
function shuffled<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function describeSchedule(windows: readonly FaultWindow[]): string {
  return windows
    .map(
      (w) =>
        `  ${(w.startMs / 1_000).toFixed(1).padStart(7)} s  ${w.kind.padEnd(19)} ${(w.durationMs / 1_000).toFixed(1)} s`,
    )
    .join("\n");
}
