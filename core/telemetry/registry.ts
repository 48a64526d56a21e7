/**
 * A small Prometheus registry (counters, gauges, histograms with labels) rendered in the text
 * exposition format. Why not prom-client (which does run on workerd
 * with nodejs_compat): docs/decisions/0002-own-metrics-registry.md.
 */

export type Labels = Readonly<Record<string, string>>;

/** One series of a counter or gauge. */
export interface ValuePoint {
  labels: Labels;
  value: number;
}

/** One series of a histogram; `cumulative[i]` counts observations <= bounds[i] (Prometheus' `le`). */
export interface HistogramPoint {
  labels: Labels;
  cumulative: number[];
  sum: number;
  count: number;
}

/**
 * A metric's current values as data: what /metrics renders as text and the OTLP exporter
 * (otlp-metrics.ts) encodes, so both read the same series.
 */
export type MetricData =
  | { name: string; help: string; type: "counter" | "gauge"; points: ValuePoint[] }
  | { name: string; help: string; type: "histogram"; bounds: readonly number[]; points: HistogramPoint[] };

export function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

/** `{a="1",b="2"}` (or nothing) in Prometheus text format; `extra` is appended (histograms' `le`). */
export function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  return pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

/** The keys of frozen label sets, which cannot change: callers on every request pass the same ones. */
const frozenKeys = new WeakMap<Labels, string>();

/**
 * One key per label set, whatever the order the labels were given in. A frozen set's key is built
 * once (see the interned labels of functions/observability/metrics.ts).
 */
export function keyOf(labels: Labels): string {
  const known = frozenKeys.get(labels);
  if (known !== undefined) return known;
  const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  if (Object.isFrozen(labels)) frozenKeys.set(labels, key);
  return key;
}

/** No labels: one frozen set, so its key is built once. */
export const NO_LABELS: Labels = Object.freeze({});

abstract class Metric {
  readonly name: string;
  readonly help: string;
  abstract readonly type: "counter" | "gauge" | "histogram";

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  render(): string {
    return [
      `# HELP ${this.name} ${this.help.replaceAll("\n", " ")}`,
      `# TYPE ${this.name} ${this.type}`,
      ...samples(this.collect()),
    ].join("\n");
  }

  abstract collect(): MetricData;
}

/** The text exposition lines of one metric's series. */
function samples(data: MetricData): string[] {
  if (data.type !== "histogram")
    return data.points.map(({ labels, value }) => `${data.name}${labelText(labels)} ${value}`);
  return data.points.flatMap(({ labels, cumulative, sum, count }) => [
    ...data.bounds.map((le, i) => `${data.name}_bucket${labelText(labels, ["le", String(le)])} ${cumulative[i]}`),
    `${data.name}_bucket${labelText(labels, ["le", "+Inf"])} ${count}`,
    `${data.name}_sum${labelText(labels)} ${sum}`,
    `${data.name}_count${labelText(labels)} ${count}`,
  ]);
}

/** A metric whose series each hold one number: what counters and gauges share. */
abstract class ValueMetric extends Metric {
  abstract override readonly type: "counter" | "gauge";
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  protected addTo(labels: Labels, by: number): void {
    const key = keyOf(labels);
    const current = this.#values.get(key);
    if (current) current.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  protected setTo(labels: Labels, value: number): void {
    this.#values.set(keyOf(labels), { labels, value });
  }

  get(labels: Labels = NO_LABELS): number {
    return this.#values.get(keyOf(labels))?.value ?? 0;
  }

  collect(): MetricData {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      points: [...this.#values.values()].map(({ labels, value }) => ({ labels, value })),
    };
  }
}

export class Counter extends ValueMetric {
  readonly type = "counter";

  inc(labels: Labels = NO_LABELS, by = 1): void {
    this.addTo(labels, by);
  }
}

export class Gauge extends ValueMetric {
  readonly type = "gauge";

  add(labels: Labels, by: number): void {
    this.addTo(labels, by);
  }

  set(labels: Labels, value: number): void {
    this.setTo(labels, value);
  }
}

export class Histogram extends Metric {
  readonly type = "histogram";
  readonly #buckets: readonly number[];
  readonly #values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(name: string, help: string, buckets: readonly number[]) {
    super(name, help);
    this.#buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels, value: number): void {
    const key = keyOf(labels);
    let series = this.#values.get(key);
    if (!series) {
      series = { labels, counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#values.set(key, series);
    }
    const buckets = this.#buckets;
    for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]!) series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  collect(): MetricData {
    return {
      name: this.name,
      help: this.help,
      type: "histogram",
      bounds: this.#buckets,
      points: [...this.#values.values()].map(({ labels, counts, sum, count }) => ({
        labels,
        cumulative: [...counts],
        sum,
        count,
      })),
    };
  }
}

/**
 * A metric whose samples are read at scrape time from state another module keeps (e.g. the
 * breakers' counters), so that module needs no knowledge of Prometheus.
 */
export class Collected extends Metric {
  readonly type: "counter" | "gauge";
  readonly #read: () => Array<{ labels: Labels; value: number }>;

  constructor(
    name: string,
    help: string,
    type: "counter" | "gauge",
    collect: () => Array<{ labels: Labels; value: number }>,
  ) {
    super(name, help);
    this.type = type;
    this.#read = collect;
  }

  collect(): MetricData {
    return { name: this.name, help: this.help, type: this.type, points: this.#read() };
  }
}

export class Registry {
  readonly #metrics: Metric[] = [];

  register<M extends Metric>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }

  render(): string {
    return `${this.#metrics.map((m) => m.render()).join("\n")}\n`;
  }

  /** Every metric's series as data, read now. */
  collect(): MetricData[] {
    return this.#metrics.map((m) => m.collect());
  }
}
