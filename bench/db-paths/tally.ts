/** bench:db-paths' figures per route: the totals over its slices, and the row they make. */
import { type TimedPause, netOfGc } from "../lib/gc.ts";
import { percentile } from "../lib/stack.ts";

export interface Phase {
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

/** The app's workerd, or the bare Worker's own. */
export type Workerd = "app" | "bare";

/** One route's totals, summed over the slices it ran in. */
export class Tally {
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
