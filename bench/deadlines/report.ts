/** bench:deadlines' report: the table of every round, the verdicts against the targets, or JSON. */
import { loadavg } from "node:os";
import { alignedTable } from "../lib/ab.ts";
import { fixed1 as fmt, formatCounts, formatDistribution } from "../lib/stack.ts";
import type { Options } from "./options.ts";
import { LATE_MS, type RoundResult } from "./round.ts";

/** The deadline targets this project sets for clinic-edge on this machine. */
const TARGET_OVER_BUDGET_P99_MS = 25;
const TARGET_GONE_P99_MS = 100;
/** Above this, the verdict says the round ran on a busy machine. */
const NOISY_CPU_PERCENT = 50;

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

/** Where the run measured: the database, its server version and which clinic-edge (codeIdentity()). */
export interface Setting {
  database: string;
  postgres: string;
  code: string;
}

/** The results on stdout: as JSON with --json, else the table, the verdicts and what the Workers logged. */
export function printReport(results: RoundResult[], opts: Options, { database, postgres, code }: Setting): void {
  if (opts.json) {
    console.log(JSON.stringify({ database, postgres, code, options: opts, results }, null, 2));
    return;
  }
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
  console.log(
    `\n${database}, PostgreSQL ${postgres}; N=${opts.requests}, budget ${opts.budgetMs} ms, concurrency ${opts.concurrency}; load average ${load}`,
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
