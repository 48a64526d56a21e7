/**
 * "Feature on vs off" on the same Worker, the same database and the same load: the common flags,
 * alternating rounds of closed loops per variant and route, and the markdown table with each
 * variant's throughput against the first (the baseline). The scripts keep what is their own (what
 * they switch, what they check): bench/observability.ts and bench/ratelimit.ts; bench/db-paths.ts
 * prints its own table with markdownTable(), bench/deadlines.ts its own with alignedTable().
 */
import { parseArgs } from "node:util";
import { wholeNumber } from "./cli.ts";
import { closedLoop } from "./closed-loop.ts";
import { refuseOnFailures } from "./failures.ts";
import { childrenOf, cpuMs } from "./proc.ts";
import { percentile } from "./stack.ts";
import type { WorkerStack } from "./worker.ts";

export interface AbOptions {
  concurrency: number;
  durationS: number;
  warmupS: number;
  rounds: number;
}

/**
 * The common flags (-c, -d, -w, -r) and the script's own string flags (`extra`: name → default),
 * the latter returned as given, for the script to check.
 */
export function abOptions<K extends string>(
  extra: Record<K, string> = {} as Record<K, string>,
): AbOptions & { extra: Record<K, string> } {
  const own = Object.fromEntries(
    Object.entries<string>(extra).map(([name, value]) => [name, { type: "string", default: value }] as const),
  );
  // Indexed by name below: the script's own flags are not known to the type.
  const { values }: { values: Record<string, string | boolean | undefined> } = parseArgs({
    options: {
      ...own,
      concurrency: { type: "string", short: "c", default: "20" },
      duration: { type: "string", short: "d", default: "10" },
      warmup: { type: "string", short: "w", default: "2" },
      rounds: { type: "string", short: "r", default: "2" },
    },
  });
  const flag = (name: string): string => {
    const v = values[name];
    if (typeof v !== "string") throw new Error(`--${name} is missing`);
    return v;
  };
  return {
    concurrency: wholeNumber(flag("concurrency"), "concurrency", 1, 500),
    durationS: wholeNumber(flag("duration"), "duration", 1, 600),
    warmupS: wholeNumber(flag("warmup"), "warmup", 0, 60),
    rounds: wholeNumber(flag("rounds"), "rounds", 1, 20),
    extra: Object.fromEntries(Object.keys(extra).map((name) => [name, flag(name)])) as Record<K, string>,
  };
}

export interface Route {
  label: string;
  /** Loaded round-robin. */
  urls: string[];
}

export interface Variant {
  /** In the progress lines and the "vs <baseline>" header: "off", "on". */
  name: string;
  /** The table's cell for this variant (default: `name`). */
  cell?: string;
  /** Bindings over the stack's for this variant. */
  bindings: Record<string, string>;
  /** The Worker bundle this variant runs (default: the stack's, dist/index.js). */
  scriptPath?: string;
  /** Runs after each of this variant's turns, before the Worker is reconfigured. */
  after?: () => Promise<void>;
  /** The labels of the routes this variant is loaded on (default: every route of the plan). */
  routes?: string[];
}

export interface AbPlan {
  /** What is switched, for the progress lines ("export on") and the table's column ("export"). */
  feature: string;
  column: string;
  /** The first is the baseline the others are compared with. */
  variants: Variant[];
  routes: Route[];
}

export interface Totals {
  ok: number;
  errors: number;
  seconds: number;
  /** Latencies of the successful answers, ms. */
  latencies: number[];
  /** CPU time workerd spent during the measured loops, ms (Linux /proc). */
  workerCpuMs: number;
  /** req/s of each round's measured loop, in round order (for medians of per-round ratios). */
  roundRps: number[];
}

/** Totals per route label, then per variant name. */
export type AbResults = Map<string, Map<string, Totals>>;

/** CPU ms of this process' workerd children so far (Miniflare restarts workerd on reconfiguration). */
const workerCpu = (): number => childrenOf(process.pid, "workerd").reduce((sum, pid) => sum + cpuMs(pid), 0);

/**
 * `opts.rounds` rounds; each round runs every variant (the Worker reconfigured only when the
 * variant changes) and, per variant, every route: a warm-up loop, then the measured one.
 */
export async function runAb(stack: WorkerStack, opts: AbOptions, plan: AbPlan): Promise<AbResults> {
  const results: AbResults = new Map(plan.routes.map((r) => [r.label, new Map<string, Totals>()]));
  let current: Variant | undefined;
  for (let round = 0; round < opts.rounds; round++) {
    // Rotate which variant goes first, so none always runs on a warmer machine.
    const order = plan.variants.map((_, i) => plan.variants[(i + round) % plan.variants.length]!);
    for (const variant of order) {
      if (variant !== current) {
        await stack.configure(variant.bindings, variant.scriptPath);
        current = variant;
      }
      for (const route of plan.routes) {
        if (variant.routes && !variant.routes.includes(route.label)) continue;
        console.error(`[bench] round ${round + 1}: ${route.label}, ${plan.feature} ${variant.name}`);
        if (opts.warmupS > 0) await closedLoop(route.urls, opts.concurrency, opts.warmupS, stack.auth);
        const cpuBefore = workerCpu();
        const s = await closedLoop(route.urls, opts.concurrency, opts.durationS, stack.auth);
        const cpu = workerCpu() - cpuBefore;
        refuseOnFailures(`${route.label}, ${plan.feature} ${variant.name}, round ${round + 1}`, s.statuses);
        const byVariant = results.get(route.label)!;
        const t = byVariant.get(variant.name) ?? {
          ok: 0,
          errors: 0,
          seconds: 0,
          latencies: [],
          workerCpuMs: 0,
          roundRps: [],
        };
        t.workerCpuMs += cpu;
        t.roundRps.push(s.latencies.length / s.elapsedS);
        t.ok += s.latencies.length;
        t.errors += s.errors;
        t.seconds += s.elapsedS;
        t.latencies.push(...s.latencies);
        byVariant.set(variant.name, t);
      }
      await variant.after?.();
    }
  }
  return results;
}

/** A markdown table: a header row, its rule, then the rows. */
export function markdownTable(head: string[], rows: string[][]): string {
  return [head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/** A plain-text table, columns padded to their widest cell, a rule under the header. */
export function alignedTable(header: string[], body: string[][]): string {
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/**
 * route | <column> | req/s | vs <baseline> | p50 ms | p99 ms | workerd CPU ms/req | errors, a row per
 * route and variant that ran it; a route's baseline is the first variant that ran it.
 */
export function abTable(plan: AbPlan, results: AbResults): string {
  const baseline = plan.variants[0]!;
  const rows: string[][] = [];
  for (const route of plan.routes) {
    const byVariant = results.get(route.label)!;
    const ran = plan.variants.filter((v) => byVariant.has(v.name));
    const base = byVariant.get(ran[0]!.name)!;
    for (const variant of ran) {
      const t = byVariant.get(variant.name)!;
      t.latencies.sort((a, b) => a - b);
      const rps = t.ok / t.seconds;
      rows.push([
        route.label,
        variant.cell ?? variant.name,
        rps.toFixed(0),
        `${((rps / (base.ok / base.seconds)) * 100).toFixed(1)}%`,
        percentile(t.latencies, 50).toFixed(1),
        percentile(t.latencies, 99).toFixed(1),
        t.ok > 0 ? (t.workerCpuMs / t.ok).toFixed(3) : "-",
        String(t.errors),
      ]);
    }
  }
  return markdownTable(
    ["route", plan.column, "req/s", `vs ${baseline.name}`, "p50 ms", "p99 ms", "workerd CPU ms/req", "errors"],
    rows,
  );
}
