/**
 * Time-series charts: one per quantity the variants carry, the variants side by side (bad first) on
 * the same x and y scales, so a difference in height is a difference in the run.
 */
import type { TopLevelSpec } from "vega-lite";
import type { LabIncident, LabPoint } from "../run-format.ts";
import { figure } from "./html.ts";
import { vegaLiteToSvg } from "./vega-svg.ts";

/** A chart: its title, y-axis unit and the LabPoint metrics drawn as its lines (label per metric). */
export interface SeriesChart {
  kind: string;
  title: string;
  unit: string;
  lines: Record<string, string>;
}

/** The charts the report knows, in page order; lines are drawn only if some variant carries them. */
export const KNOWN_CHARTS: SeriesChart[] = [
  { kind: "req_per_s", title: "Requests per second", unit: "req/s", lines: { req_per_s: "req/s" } },
  { kind: "latency", title: "Latency p50 / p99", unit: "ms", lines: { p50_ms: "p50", p99_ms: "p99" } },
  { kind: "errors", title: "Errors by status", unit: "responses/s", lines: { errors_4xx: "4xx", errors_5xx: "5xx" } },
  { kind: "pg_backends", title: "Postgres backends", unit: "backends", lines: { pg_backends: "backends" } },
  { kind: "insurer_calls", title: "Calls reaching the insurer", unit: "calls", lines: { insurer_calls: "calls" } },
  { kind: "in_flight", title: "In-flight work", unit: "in flight", lines: { in_flight: "in flight" } },
  { kind: "db_reads", title: "Postgres reads", unit: "reads", lines: { db_reads: "reads" } },
  { kind: "heap_bytes", title: "Heap", unit: "bytes", lines: { heap_bytes: "heap" } },
  {
    kind: "records_landed",
    title: "Post-response records landed",
    unit: "records",
    lines: { records_landed: "landed" },
  },
  { kind: "do_retries", title: "Durable Object calls retried", unit: "retries", lines: { do_retries: "retries" } },
];

const KNOWN_METRICS = new Set(KNOWN_CHARTS.flatMap((chart) => Object.keys(chart.lines)));

/** The charts an incident needs: the known ones its series carry, then one per other metric. */
export function chartsFor(incident: LabIncident): SeriesChart[] {
  const carried = new Set(incident.variants.flatMap((v) => v.series.map((p) => p.metric)));
  const known = KNOWN_CHARTS.filter((chart) => Object.keys(chart.lines).some((m) => carried.has(m)));
  const others = [...carried]
    .filter((m) => !KNOWN_METRICS.has(m))
    .sort()
    .map((m) => ({ kind: m, title: m, unit: m, lines: { [m]: m } }));
  return [...known, ...others];
}

interface Row {
  variant: string;
  t: number;
  line: string;
  value: number;
}

function rows(incident: LabIncident, chart: SeriesChart): Row[] {
  return incident.variants.flatMap((variant) =>
    variant.series
      .filter((p: LabPoint) => p.metric in chart.lines && Number.isFinite(p.value))
      .map((p) => ({ variant: variant.name, t: p.t, line: chart.lines[p.metric]!, value: p.value })),
  );
}

export function seriesSpec(incident: LabIncident, chart: SeriesChart): TopLevelSpec {
  const variants = incident.variants.map((v) => v.name);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values: rows(incident, chart) },
    facet: { column: { field: "variant", type: "nominal", sort: variants, title: null } },
    spec: {
      width: Math.max(220, Math.floor(840 / Math.max(1, variants.length)) - 40),
      height: 150,
      mark: { type: "line", point: { size: 12 }, interpolate: "monotone" },
      encoding: {
        x: { field: "t", type: "quantitative", title: "seconds into the variant" },
        y: {
          field: "value",
          type: "quantitative",
          title: chart.unit,
          axis: { format: chart.unit === "bytes" ? "~s" : ",~r" },
        },
        color: {
          field: "line",
          type: "nominal",
          title: null,
          sort: Object.values(chart.lines),
          scale: { range: ["#2563eb", "#dc2626", "#16a34a", "#9333ea"] },
        },
      },
    },
    // Same scales across variants: the good run's flat line sits where the bad run started.
    resolve: { scale: { x: "shared", y: "shared" } },
    config: { view: { stroke: "#ddd" }, font: "sans-serif" },
  };
}

export async function seriesFigure(incident: LabIncident, chart: SeriesChart): Promise<string> {
  const svg = await vegaLiteToSvg(seriesSpec(incident, chart));
  return figure(`series:${chart.kind}`, `${chart.title} (${chart.unit}), bad and good on the same scales`, svg);
}
