/**
 * `npm run lab -- <incident>|all [--seconds N]`: each incident's failure reproduced on the local
 * stack, the same fixed load against the bad variant and then the good one, with a real Prometheus
 * evaluating the shipped alert rules; a side-by-side summary on stdout, and
 * reports/lab/<stamp>/run.json (LabRun) and report.html. Exit code 1 when a check failed.
 * docs/lab.md says what each incident shows and how time is compressed.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ROOT } from "../bench/lib/stack.ts";
import { parseCommandLine, parseFlags, stopSignal, usage, type Flag } from "../bench/lib/cli.ts";
import { runIncident } from "./incident.ts";
import { INCIDENTS } from "./incidents/index.ts";
import { RULES_FILE, TIME_COMPRESSION_NOTE } from "./prometheus.ts";
import { renderReport } from "./report/render.ts";
import type { LabIncident, LabRun } from "./run-format.ts";
import { startLabStack } from "./stack.ts";

const FLAGS = {
  seconds: { arg: "N", default: 10, min: 3, max: 120, help: "how long each variant's load runs" },
  out: { arg: "dir", default: "reports/lab", help: "where the run's directory (a timestamp) is written" },
} satisfies Record<string, Flag>;

const USAGE = usage(
  "npm run lab -- <incident>|all",
  FLAGS,
  `Incidents: ${INCIDENTS.map((i) => i.id).join(", ")}.\nPostgres: embedded by default; with DATABASE_URL set, a scratch database on that server.`,
);

const log = (line: string): void => console.error(`[lab] ${line}`);

function parse(argv: string[]): { which: string[]; seconds: number; out: string } | undefined {
  const positional = argv.filter((a, i) => !a.startsWith("-") && !(i > 0 && argv[i - 1]!.startsWith("--")));
  const flags = parseFlags(
    FLAGS,
    argv.filter((a) => !positional.includes(a)),
  );
  if (!flags) return undefined;
  if (positional.length !== 1) throw new Error("name one incident, or all");
  const which = positional[0] === "all" ? INCIDENTS.map((i) => i.id) : positional;
  for (const id of which) if (!INCIDENTS.some((i) => i.id === id)) throw new Error(`no incident ${id}`);
  return { which, seconds: flags.seconds, out: flags.out };
}

/** Rows as text columns, two spaces apart. */
function aligned(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) =>
    r
      .map((cell, col) => cell.padEnd(widths[col]!))
      .join("  ")
      .trimEnd(),
  );
}

/** The incident's variants side by side: a row per variant, a column per summary field. */
export function summaryTable(incident: LabIncident): string {
  const columns = [...new Set(incident.variants.flatMap((v) => Object.keys(v.summary)))];
  const rows = [
    ["", ...columns],
    ...incident.variants.map((v) => [v.name, ...columns.map((c) => String(v.summary[c] ?? ""))]),
  ];
  const checks = incident.checks.map((c) => `  ${c.passed ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`);
  return [`== ${incident.title} (${incident.id})`, ...aligned(rows), ...checks].join("\n");
}

/** Alerts that fired in these variants, with when (seconds into the variant), or "none". */
function fired(variants: LabIncident["variants"]): string {
  const seen = variants.flatMap((v) =>
    v.alerts.filter((a) => a.firedAt !== null).map((a) => `${a.name} at ${Math.round(a.firedAt!)} s`),
  );
  return seen.length > 0 ? seen.join(", ") : "none";
}

/** The whole run at a glance: a row per incident, what fired on each side, and its checks. */
export function overviewTable(run: LabRun): string {
  const rows = [
    ["incident", "bad: alerts fired", "good: alerts fired", "checks passed"],
    ...run.incidents.map((i) => [
      i.id,
      fired(i.variants.filter((v) => v.kind === "bad")),
      fired(i.variants.filter((v) => v.kind === "good")),
      `${i.checks.filter((c) => c.passed).length} of ${i.checks.length}`,
    ]),
  ];
  return [`== All incidents (${run.secondsPerVariant} s of load per variant, ${run.database})`, ...aligned(rows)].join(
    "\n",
  );
}

async function main(): Promise<number> {
  const opts = parseCommandLine(parse, USAGE, "[lab]");
  if (typeof opts === "number") return opts;
  const started = performance.now();
  // Bounded: every variant's load, tail and startup, with room to spare.
  const stop = stopSignal(opts.which.length * 4 * (opts.seconds + 40) + 120);
  const rules = await readFile(RULES_FILE, "utf8");
  const stack = await startLabStack(log);
  const run: LabRun = {
    startedAt: new Date().toISOString(),
    database: stack.where.replace(/\/\/[^@/]*@/, "//"),
    secondsPerVariant: opts.seconds,
    timeCompression: TIME_COMPRESSION_NOTE,
    incidents: [],
  };
  try {
    for (const id of opts.which) {
      if (stop.signal.aborted) throw new Error("stopped: a signal, or the run's time limit");
      const incident = INCIDENTS.find((i) => i.id === id)!;
      const result = await runIncident(stack, incident, opts.seconds, rules, log);
      run.incidents.push(result);
      console.log(`${summaryTable(result)}\n`);
    }
  } finally {
    await stack.close();
    stop.dispose();
  }
  const dir = resolve(ROOT, opts.out, run.startedAt.replace(/[:.]/g, "-"));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "run.json"), `${JSON.stringify(run, null, 2)}\n`);
  await writeFile(join(dir, "report.html"), await renderReport(run));
  if (run.incidents.length > 1) console.log(`${overviewTable(run)}\n`);
  const failed = run.incidents.flatMap((i) => i.checks.filter((c) => !c.passed).map((c) => `${i.id}: ${c.name}`));
  console.log(
    `${run.incidents.length} incident(s) in ${Math.round((performance.now() - started) / 1_000)} s; ` +
      `${failed.length === 0 ? "every check passed" : `${failed.length} check(s) failed`}. Report: ${join(dir, "report.html")}`,
  );
  return failed.length === 0 ? 0 : 1;
}

process.exitCode = await main();
