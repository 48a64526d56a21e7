/**
 * The slowest request's trace as a waterfall: one bar per span from its start to its end, children
 * under their parents, the slow span drawn in red and labelled with its name and duration.
 */
import type { TopLevelSpec } from "vega-lite";
import type { LabTrace } from "../run-format.ts";
import { escapeHtml, figure } from "./html.ts";
import { vegaLiteToSvg } from "./vega-svg.ts";

type Span = LabTrace["spans"][number];

interface Bar {
  row: string;
  name: string;
  start: number;
  end: number;
  durationMs: number;
  slowest: boolean;
  /** The label fits inside the bar (a long bar) rather than after it. */
  labelInside: boolean;
}

/** Spans in tree order (each parent before its children, siblings by start), with their depth. */
export function treeOrder(spans: Span[]): Array<{ span: Span; depth: number }> {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string | undefined, Span[]>();
  for (const span of spans) {
    // A parent outside the trace (a caller's span) makes the span a root here.
    const parent = span.parentSpanId !== undefined && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const out: Array<{ span: Span; depth: number }> = [];
  const visit = (parent: string | undefined, depth: number): void => {
    for (const span of (children.get(parent) ?? []).sort((a, b) => a.startMs - b.startMs)) {
      out.push({ span, depth });
      visit(span.spanId, depth + 1);
    }
  };
  visit(undefined, 0);
  return out;
}

function bars(trace: LabTrace): Bar[] {
  const total = Math.max(1, ...trace.spans.map((s) => s.startMs + s.durationMs));
  return treeOrder(trace.spans).map(({ span, depth }, i) => ({
    // Unique per row (many spans share a name); the indent shows nesting.
    row: `${String(i + 1).padStart(2, "0")} ${"· ".repeat(depth)}${span.name}`,
    name: span.name,
    start: span.startMs,
    end: span.startMs + span.durationMs,
    durationMs: span.durationMs,
    slowest: span.spanId === trace.slowestSpanId,
    labelInside: span.durationMs > total / 2,
  }));
}

type RowEncoding = ReturnType<typeof rowEncoding>;

function rowEncoding(values: Bar[]) {
  return {
    field: "row",
    type: "nominal" as const,
    sort: values.map((b) => b.row),
    title: null,
    axis: { labelLimit: 280 },
  };
}

function label(
  name: string,
  y: RowEncoding,
  filter: string,
  place: { align: "left" | "right"; dx: number; color: string },
) {
  return {
    name,
    transform: [
      { filter: `datum.slowest && ${filter}` },
      { calculate: "'slowest: ' + datum.name + ' ' + format(datum.durationMs, ',.0f') + ' ms'", as: "label" },
    ],
    mark: { type: "text" as const, fontWeight: "bold" as const, ...place },
    encoding: {
      y,
      x: { field: "end", type: "quantitative" as const },
      text: { field: "label" },
    },
  };
}

export function waterfallSpec(trace: LabTrace): TopLevelSpec {
  const values = bars(trace);
  const y = rowEncoding(values);
  const x = { field: "start", type: "quantitative" as const, title: "ms since the request started" };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values },
    width: 720,
    height: { step: 16 },
    layer: [
      {
        name: "spans",
        transform: [{ filter: "!datum.slowest" }],
        mark: { type: "bar", color: "#94a3b8" },
        encoding: { y, x, x2: { field: "end" } },
      },
      {
        name: "slowest",
        transform: [{ filter: "datum.slowest" }],
        mark: { type: "bar", color: "#dc2626" },
        encoding: { y, x, x2: { field: "end" } },
      },
      // Inside a long bar (white, right-aligned at its end), after a short one: never off the chart.
      label("slowest_label_inside", y, "datum.labelInside", { align: "right", dx: -6, color: "#ffffff" }),
      label("slowest_label", y, "!datum.labelInside", { align: "left", dx: 4, color: "#991b1b" }),
    ],
    config: { view: { stroke: "#ddd" }, font: "sans-serif" },
  };
}

export async function waterfallFigure(trace: LabTrace): Promise<string> {
  const slowest = trace.spans.find((s) => s.spanId === trace.slowestSpanId);
  const caption = slowest
    ? `Trace ${trace.traceId}: the slowest span is ${slowest.name} (${Math.round(slowest.durationMs)} ms)`
    : `Trace ${trace.traceId}`;
  const svg = await vegaLiteToSvg(waterfallSpec(trace));
  return figure("waterfall", caption, svg) + attributesTable(slowest);
}

/** The slow span's attributes (db.operation, db.sql.table, ...): what to look for in the code. */
function attributesTable(span: Span | undefined): string {
  const entries = Object.entries(span?.attributes ?? {});
  if (entries.length === 0) return "";
  const rows = entries.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`);
  return `<table class="attributes"><caption>The slowest span's attributes</caption>${rows.join("")}</table>`;
}
