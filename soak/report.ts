/**
 * The soak's results: a summary (operations by outcome, faults injected, each invariant, latency
 * per operation outside and inside fault windows) as text and JSON, and a chart of latency and
 * errors per second with the fault windows marked, drawn with Vega-Lite and rendered to SVG in Node.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { distribution } from "../bench/lib/stack.ts";
import { type Invariant, overlappingFault } from "./checker.ts";
import type { AppliedFault } from "./faults.ts";
import type { Attempt } from "./history.ts";
import { GRACE_MS } from "./schedule.ts";

export interface Summary {
  seed: number;
  minutes: number;
  /** When the load started, in the history's clock (ms since the soak's first request): before it, seeding and warm-up. */
  loadStartMs: number;
  rate: number;
  database: string;
  graceMs: number;
  heapMeasure: string;
  operations: number;
  attempts: number;
  /** Per operation kind: the last attempt's status ("none" when no attempt got an answer) → count. */
  outcomes: Record<string, Record<string, number>>;
  faults: AppliedFault[];
  invariants: Invariant[];
  /** Per operation kind, answered attempts' latency (ms) outside and inside fault windows (+ grace). */
  latency: Record<
    string,
    { outside: { n: number; p50: number; p99: number }; inside: { n: number; p50: number; p99: number } }
  >;
  passed: boolean;
}

const outcomeOf = (a: Attempt): string => (a.status === undefined ? "none" : String(a.status));

export function summarize(
  attempts: readonly Attempt[],
  faults: AppliedFault[],
  invariants: Invariant[],
  meta: Pick<Summary, "seed" | "minutes" | "loadStartMs" | "rate" | "database" | "heapMeasure">,
): Summary {
  const lastOfOp = new Map<number, Attempt>();
  for (const a of attempts) if (a.kind !== "seed") lastOfOp.set(a.op, a);
  const outcomes: Summary["outcomes"] = {};
  for (const a of lastOfOp.values()) {
    const row = (outcomes[a.kind] ??= {});
    row[outcomeOf(a)] = (row[outcomeOf(a)] ?? 0) + 1;
  }
  const samples = new Map<string, { outside: number[]; inside: number[] }>();
  for (const a of attempts) {
    if (a.status === undefined || a.kind === "seed") continue;
    const s = samples.get(a.kind) ?? { outside: [], inside: [] };
    samples.set(a.kind, s);
    (overlappingFault(faults, a) ? s.inside : s.outside).push(a.endMs - a.startMs);
  }
  const latency: Summary["latency"] = {};
  for (const [kind, s] of samples) {
    const pick = (v: number[]) => {
      const d = distribution(v);
      return { n: d.n, p50: d.p50, p99: d.p99 };
    };
    latency[kind] = { outside: pick(s.outside), inside: pick(s.inside) };
  }
  return {
    ...meta,
    graceMs: GRACE_MS,
    operations: lastOfOp.size,
    attempts: attempts.length,
    outcomes,
    faults,
    invariants,
    latency,
    passed: invariants.every((i) => i.passed),
  };
}

export function summaryText(s: Summary): string {
  const lines = [
    `soak: seed ${s.seed}, ${s.minutes} min at ${s.rate} op/s, ${s.database}`,
    `${s.operations} operations, ${s.attempts} attempts; times in seconds since the first request, load from ${(s.loadStartMs / 1_000).toFixed(1)} s`,
    "",
    "outcomes (last attempt of each operation):",
    ...Object.entries(s.outcomes)
      .sort()
      .map(
        ([kind, c]) =>
          `  ${kind.padEnd(16)} ${Object.entries(c)
            .map(([k, v]) => `${k}×${v}`)
            .join(" ")}`,
      ),
    "",
    `faults injected (${s.faults.length}; grace ${s.graceMs / 1_000} s after each):`,
    ...s.faults.map(
      (f) =>
        `  ${(f.startMs / 1_000).toFixed(1).padStart(7)} s  ${f.kind.padEnd(19)} ${(f.durationMs / 1_000).toFixed(1)} s  ${f.note}${f.error ? ` (${f.error})` : ""}`,
    ),
    "",
    "latency ms (answered attempts): p50 / p99 outside fault windows | inside",
    ...Object.entries(s.latency)
      .sort()
      .map(
        ([kind, l]) =>
          `  ${kind.padEnd(16)} ${l.outside.n ? `${l.outside.p50} / ${l.outside.p99}` : "-"} (n=${l.outside.n}) | ${l.inside.n ? `${l.inside.p50} / ${l.inside.p99}` : "-"} (n=${l.inside.n})`,
      ),
    "",
    `invariants (heap: ${s.heapMeasure}):`,
    ...s.invariants.map(
      (i) =>
        `  ${i.passed ? "PASS" : "FAIL"}  ${i.name} [${i.count}]: ${i.detail}${i.examples.map((e) => `\n          ${e}`).join("")}`,
    ),
    "",
    s.passed ? "every invariant passed" : "INVARIANTS FAILED",
  ];
  return lines.join("\n");
}

/** Per second: p50 and p99 latency of the answered attempts, and the attempts by error class. */
function perSecond(attempts: readonly Attempt[]) {
  const bins = new Map<number, { lat: number[]; errors: Record<string, number> }>();
  for (const a of attempts) {
    if (a.kind === "seed") continue;
    const t = Math.floor(a.startMs / 1_000);
    const bin = bins.get(t) ?? { lat: [], errors: {} };
    bins.set(t, bin);
    if (a.status !== undefined) bin.lat.push(a.endMs - a.startMs);
    const cls =
      a.status === undefined ? "no answer" : a.status >= 500 ? String(a.status) : a.status === 429 ? "429" : undefined;
    if (cls) bin.errors[cls] = (bin.errors[cls] ?? 0) + 1;
  }
  const latency: Array<{ t: number; stat: string; ms: number }> = [];
  const errors: Array<{ t: number; class: string; n: number }> = [];
  for (const [t, b] of [...bins].sort(([x], [y]) => x - y)) {
    const d = distribution(b.lat);
    if (d.n > 0) latency.push({ t, stat: "p50", ms: d.p50 }, { t, stat: "p99", ms: d.p99 });
    for (const [cls, n] of Object.entries(b.errors)) errors.push({ t, class: cls, n });
  }
  return { latency, errors };
}

function chartSpec(attempts: readonly Attempt[], faults: readonly AppliedFault[], seconds: number): TopLevelSpec {
  const { latency, errors } = perSecond(attempts);
  const windows = faults.map((f) => ({ kind: f.kind, t0: f.startMs / 1_000, t1: (f.startMs + f.durationMs) / 1_000 }));
  const faultLayer = {
    data: { values: windows },
    mark: { type: "rect" as const, opacity: 0.25 },
    encoding: {
      x: { field: "t0", type: "quantitative" as const, scale: { domain: [0, seconds] } },
      x2: { field: "t1" },
      color: { field: "kind", type: "nominal" as const, title: "fault", scale: { scheme: "set2" } },
    },
  };
  const x = {
    field: "t",
    type: "quantitative" as const,
    title: "seconds since the first request (load after the warm-up)",
    scale: { domain: [0, seconds] },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Soak: latency and errors per second, fault windows shaded",
    resolve: { scale: { color: "independent" } },
    vconcat: [
      {
        width: 900,
        height: 220,
        layer: [
          faultLayer,
          {
            data: { values: latency },
            mark: { type: "line", strokeWidth: 1 },
            encoding: {
              x,
              y: { field: "ms", type: "quantitative", title: "latency ms (log)", scale: { type: "log" } },
              strokeDash: { field: "stat", type: "nominal", title: "percentile" },
            },
          },
        ],
      },
      {
        width: 900,
        height: 140,
        layer: [
          faultLayer,
          {
            data: { values: errors },
            mark: { type: "bar", width: 2 },
            encoding: {
              x,
              y: { field: "n", type: "quantitative", title: "attempts per second", stack: true },
              fill: { field: "class", type: "nominal", title: "answer", scale: { scheme: "reds" } },
            },
          },
        ],
      },
    ],
  };
}

/** Writes summary.json, summary.txt and chart.svg into `dir`. */
export async function writeReport(dir: string, summary: Summary, attempts: readonly Attempt[]): Promise<void> {
  await writeFile(join(dir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  await writeFile(join(dir, "summary.txt"), `${summaryText(summary)}\n`);
  const view = new vega.View(
    vega.parse(
      compile(chartSpec(attempts, summary.faults, Math.ceil(Math.max(...attempts.map((a) => a.endMs)) / 1_000))).spec,
    ),
    { renderer: "none" },
  );
  await writeFile(join(dir, "chart.svg"), await view.toSVG());
  view.finalize();
}
