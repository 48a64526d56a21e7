/**
 * A small Prometheus registry (counters, gauges, histograms with labels) rendered in the text
 * exposition format. Written here because prom-client, the field's library, is built on Node's
 * process/cluster/perf_hooks and does not run on Workers; the format itself is simple and stable.
 */

type Labels = Readonly<Record<string, string>>;

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  return pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  abstract readonly type: "counter" | "gauge" | "histogram";

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  render(): string {
    return [`# HELP ${this.name} ${this.help.replaceAll("\n", " ")}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join("\n");
  }

  protected abstract samples(): string[];
}

export class Counter extends Metric {
  readonly type = "counter";
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const current = this.#values.get(key);
    if (current) current.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.#values.get(keyOf(labels))?.value ?? 0;
  }

  protected samples(): string[] {
    return [...this.#values.values()].map(({ labels, value }) => `${this.name}${labelText(labels)} ${value}`);
  }
}

export class Gauge extends Metric {
  readonly type = "gauge";
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  add(labels: Labels, by: number): void {
    const key = keyOf(labels);
    const current = this.#values.get(key);
    if (current) current.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  set(labels: Labels, value: number): void {
    this.#values.set(keyOf(labels), { labels, value });
  }

  protected samples(): string[] {
    return [...this.#values.values()].map(({ labels, value }) => `${this.name}${labelText(labels)} ${value}`);
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
    this.#buckets.forEach((le, i) => {
      if (value <= le) series.counts[i]!++;
    });
    series.sum += value;
    series.count++;
  }

  protected samples(): string[] {
    return [...this.#values.values()].flatMap(({ labels, counts, sum, count }) => [
      ...this.#buckets.map((le, i) => `${this.name}_bucket${labelText(labels, ["le", String(le)])} ${counts[i]}`),
      `${this.name}_bucket${labelText(labels, ["le", "+Inf"])} ${count}`,
      `${this.name}_sum${labelText(labels)} ${sum}`,
      `${this.name}_count${labelText(labels)} ${count}`,
    ]);
  }
}

/**
 * A metric whose samples are read at scrape time from state another module keeps (e.g. the
 * breakers' counters), so that module needs no knowledge of Prometheus.
 */
export class Collected extends Metric {
  readonly type: "counter" | "gauge";
  readonly #collect: () => Array<{ labels: Labels; value: number }>;

  constructor(name: string, help: string, type: "counter" | "gauge", collect: () => Array<{ labels: Labels; value: number }>) {
    super(name, help);
    this.type = type;
    this.#collect = collect;
  }

  protected samples(): string[] {
    return this.#collect().map(({ labels, value }) => `${this.name}${labelText(labels)} ${value}`);
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
}
