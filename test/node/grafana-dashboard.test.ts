/**
 * The fleet dashboard (ops/grafana/) cannot drift from the code: the committed JSON is what the code
 * generates, every panel's PromQL parses (promtool, as Prometheus would), and every metric it names
 * is one clinic-edge registers (functions/observability/metrics.ts) or one postgres_exporter serves.
 *
 * Needs /usr/bin/promtool (PROMTOOL_PATH overrides) for the syntax check: .ci/run installs it.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { registry } from "../../functions/observability/metrics.ts";
import { DASHBOARD_FILE, dashboardJson } from "../../ops/grafana/generate.ts";

const PROMTOOL = process.env.PROMTOOL_PATH ?? "/usr/bin/promtool";
const HAVE_PROMTOOL = existsSync(PROMTOOL);
if (!HAVE_PROMTOOL) {
  if (process.env.CI) throw new Error(`${PROMTOOL} is missing: CI must install prometheus (.ci/run does)`);
  console.warn(`[grafana-dashboard] promtool check skipped: no ${PROMTOOL}`);
}

/** postgres_exporter's series the dashboard reads (the lab serves the same names). */
const POSTGRES_EXPORTER = ["pg_stat_activity_count", "pg_settings_max_connections"];

interface Panel {
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; legendFormat: string; refId: string }>;
}

async function panels(): Promise<Panel[]> {
  const dashboard = JSON.parse(await readFile(DASHBOARD_FILE, "utf8")) as { panels: Panel[] };
  return dashboard.panels.filter((p) => p.type !== "row");
}

const exprs = async (): Promise<string[]> => (await panels()).flatMap((p) => p.targets?.map((t) => t.expr) ?? []);

/** Series names the code exposes: a histogram is its _bucket, _sum and _count series. */
function registeredSeries(): Set<string> {
  return new Set(
    registry
      .collect()
      .flatMap((m) => (m.type === "histogram" ? ["_bucket", "_sum", "_count"].map((s) => m.name + s) : [m.name])),
  );
}

/**
 * The metric names a PromQL expression selects: identifiers left once strings, label matchers,
 * ranges and grouping clauses are removed, that are neither a function call nor a keyword.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  const keywords = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan"]);
  return [...bare.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)]
    .map((m) => m[1]!)
    .filter((name) => !keywords.has(name.toLowerCase()));
}

/** Grafana's variables as Prometheus reads them: a range it can parse. */
const forPrometheus = (expr: string): string => expr.replaceAll("$__rate_interval", "5m");

function promtoolCheck(file: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, ["check", "rules", file], { encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

async function asRecordingRules(list: string[]): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "clinic-edge-dashboard-"));
  const rules = list.map(
    (expr, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(forPrometheus(expr))}`,
  );
  const file = join(dir, "dashboard.rules.yml");
  await writeFile(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`);
  return { file, dir };
}

describe("the fleet dashboard", () => {
  test("the committed JSON is what npm run ops:dashboard generates", async () => {
    expect(await readFile(DASHBOARD_FILE, "utf8")).toBe(await dashboardJson());
  });

  test("every panel says what it shows, asks the chosen Prometheus, and has a query with a legend", async () => {
    const list = await panels();
    expect(list.length).toBeGreaterThan(15);
    for (const panel of list) {
      expect(panel.description, panel.title).toBeTruthy();
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.legendFormat, panel.title).toBeTruthy();
    }
  });

  test("names only metrics the code registers or postgres_exporter serves", async () => {
    const known = new Set([...registeredSeries(), ...POSTGRES_EXPORTER]);
    const unknown = (await exprs()).flatMap(metricNames).filter((name) => !known.has(name));
    expect(unknown).toEqual([]);
  });

  test("shows every metric the code registers", async () => {
    const shown = new Set((await exprs()).flatMap(metricNames).map((n) => n.replace(/_(bucket|sum|count)$/, "")));
    const missing = registry
      .collect()
      .map((m) => m.name)
      .filter((name) => !shown.has(name));
    expect(missing).toEqual([]);
  });

  test("the metric-name reader finds selectors and skips functions, labels and keywords", () => {
    expect(
      metricNames(
        'sum by (route) (rate(a_total{status=~"5..", x="b_total"}[5m])) / on (route) sum(rate(c_total[$__rate_interval])) > bool 0.5 and d',
      ),
    ).toEqual(["a_total", "c_total", "d"]);
  });

  test.skipIf(!HAVE_PROMTOOL)("every panel's query parses as PromQL (promtool check rules)", async () => {
    const { file, dir } = await asRecordingRules(await exprs());
    try {
      const { status, output } = promtoolCheck(file);
      expect(output).toMatch(/SUCCESS: \d+ rules found/);
      expect(status, output).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test.skipIf(!HAVE_PROMTOOL)("the syntax check refuses a broken query", async () => {
    const { file, dir } = await asRecordingRules(["sum by (route (rate(http_requests_total[5m]))"]);
    try {
      expect(promtoolCheck(file).status).not.toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
