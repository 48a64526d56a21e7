/** bench:db-paths' table: a row per route, its throughput against the trivial route's. */
import { markdownTable } from "../lib/ab.ts";
import type { Phase } from "./tally.ts";

/** `gc`: with the columns of V8's collections (--gc). */
export function table(phases: Phase[], gc: boolean): string {
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
