/**
 * The metrics half of the local OTLP collector (dev/otlp-collector.ts): keeps the latest cumulative
 * point of every series per instance (service.instance.id) and renders the fleet in Prometheus
 * text, counters and histograms summed across instances. The local stand-in for a Prometheus or
 * Grafana Cloud fed over OTLP, queried with `sum without (instance) (...)` (service.instance.id
 * becomes the `instance` label there).
 */

import { keyOf, labelText, type Labels } from "../core/telemetry/registry.ts";

export interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}
interface OtlpNumberPoint {
  attributes?: OtlpKeyValue[];
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: string | number;
}
interface OtlpHistogramPoint {
  attributes?: OtlpKeyValue[];
  timeUnixNano?: string;
  count?: string | number;
  sum?: number;
  bucketCounts?: Array<string | number>;
  explicitBounds?: number[];
}
interface OtlpMetric {
  name: string;
  description?: string;
  sum?: { aggregationTemporality?: number; isMonotonic?: boolean; dataPoints?: OtlpNumberPoint[] };
  gauge?: { dataPoints?: OtlpNumberPoint[] };
  histogram?: { aggregationTemporality?: number; dataPoints?: OtlpHistogramPoint[] };
}
export interface OtlpMetricsRequest {
  resourceMetrics?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeMetrics?: Array<{ metrics?: OtlpMetric[] }>;
  }>;
}

/** OTLP AggregationTemporality: only cumulative points can be kept as "the latest". */
const CUMULATIVE = 2;

type Point =
  | { kind: "counter" | "gauge"; labels: Labels; time: bigint; value: number }
  | {
      kind: "histogram";
      labels: Labels;
      time: bigint;
      bounds: number[];
      buckets: number[];
      sum: number;
      count: number;
    };

interface Instance {
  exports: number;
  /** The latest export request as received, for tests that check the wire format. */
  latest: OtlpMetricsRequest;
  /** metric name -> series key -> latest point */
  series: Map<string, Map<string, Point>>;
}

function plain(value: OtlpAnyValue): string {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return String(value.intValue);
  if (value.doubleValue !== undefined) return String(value.doubleValue);
  if (value.boolValue !== undefined) return String(value.boolValue);
  return "";
}

function labelsOf(list: OtlpKeyValue[] | undefined): Labels {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, plain(kv.value)]));
}

/** OTLP attribute keys may hold dots; Prometheus label names may not. */
function promLabels(labels: Labels): Labels {
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k.replace(/[^a-zA-Z0-9_]/g, "_"), v]));
}

function pointsOf(metric: OtlpMetric): Point[] {
  const time = (p: { timeUnixNano?: string }) => BigInt(p.timeUnixNano ?? "0");
  const num = (p: OtlpNumberPoint) => p.asDouble ?? Number(p.asInt ?? 0);
  if (metric.sum) {
    // A delta point is one interval's increase, not a total: the latest of them is not the series.
    if (metric.sum.aggregationTemporality !== CUMULATIVE) return [];
    const kind = metric.sum.isMonotonic ? "counter" : "gauge";
    return (metric.sum.dataPoints ?? []).map((p) => ({
      kind,
      labels: labelsOf(p.attributes),
      time: time(p),
      value: num(p),
    }));
  }
  if (metric.gauge) {
    return (metric.gauge.dataPoints ?? []).map((p) => ({
      kind: "gauge",
      labels: labelsOf(p.attributes),
      time: time(p),
      value: num(p),
    }));
  }
  if (metric.histogram && metric.histogram.aggregationTemporality === CUMULATIVE) {
    return (metric.histogram.dataPoints ?? []).map((p) => ({
      kind: "histogram",
      labels: labelsOf(p.attributes),
      time: time(p),
      bounds: p.explicitBounds ?? [],
      buckets: (p.bucketCounts ?? []).map(Number),
      sum: p.sum ?? 0,
      count: Number(p.count ?? 0),
    }));
  }
  return [];
}

export class FleetMetrics {
  readonly #instances = new Map<string, Instance>();
  readonly #help = new Map<string, string>();

  /** Stores one ExportMetricsServiceRequest; points older than the one kept are ignored (late retries). */
  receive(body: OtlpMetricsRequest): void {
    for (const rm of body.resourceMetrics ?? []) {
      const resource = labelsOf(rm.resource?.attributes);
      // No instance id: the whole resource is the identity (one sender).
      const id = resource["service.instance.id"] ?? keyOf(resource);
      let instance = this.#instances.get(id);
      if (!instance) {
        instance = { exports: 0, latest: {}, series: new Map() };
        this.#instances.set(id, instance);
      }
      instance.exports++;
      instance.latest = { resourceMetrics: [rm] };
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) {
          if (metric.description) this.#help.set(metric.name, metric.description);
          let series = instance.series.get(metric.name);
          if (!series) {
            series = new Map();
            instance.series.set(metric.name, series);
          }
          for (const point of pointsOf(metric)) {
            const key = keyOf(point.labels);
            const kept = series.get(key);
            if (!kept || kept.time <= point.time) series.set(key, point);
          }
        }
      }
    }
  }

  /** What one instance sent: how many exports, and the latest as received. */
  instance(id: string): { exports: number; latest: OtlpMetricsRequest | undefined } {
    const instance = this.#instances.get(id);
    return { exports: instance?.exports ?? 0, latest: instance?.latest };
  }

  /**
   * The fleet in Prometheus text: counters and histograms summed over instances (each instance's
   * latest cumulative point: an instance gone quiet still counts what it did); gauges per instance
   * (`service_instance_id`), as a sum of last-seen values of isolates that may be gone would mislead.
   */
  render(): string {
    const byName = new Map<string, Array<{ instance: string; point: Point }>>();
    for (const [instance, { series }] of this.#instances) {
      for (const [name, points] of series) {
        const list = byName.get(name) ?? [];
        for (const point of points.values()) list.push({ instance, point });
        byName.set(name, list);
      }
    }
    const n = this.#instances.size;
    const lines = [
      "# HELP otlp_fleet_instances Instances (service.instance.id) that have pushed metrics to this collector",
      "# TYPE otlp_fleet_instances gauge",
      `otlp_fleet_instances ${n}`,
    ];
    for (const [name, entries] of [...byName].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const kind = entries[0]?.point.kind;
      if (!kind) continue;
      const scope = kind === "gauge" ? "last value per instance" : `summed over ${n} instance(s)`;
      lines.push(
        `# HELP ${name} ${(this.#help.get(name) ?? name).replaceAll("\n", " ")} [fleet: ${scope}]`,
        `# TYPE ${name} ${kind}`,
      );
      if (kind === "gauge") {
        for (const { instance, point } of entries) {
          if (point.kind === "gauge")
            lines.push(
              `${name}${labelText(promLabels({ ...point.labels, service_instance_id: instance }))} ${point.value}`,
            );
        }
        continue;
      }
      const sums = new Map<string, Point>();
      for (const { point } of entries) {
        const key = keyOf(point.labels);
        const acc = sums.get(key);
        if (!acc) sums.set(key, point.kind === "histogram" ? { ...point, buckets: [...point.buckets] } : { ...point });
        else if (
          acc.kind === "histogram" &&
          point.kind === "histogram" &&
          acc.buckets.length === point.buckets.length
        ) {
          point.buckets.forEach((b, i) => (acc.buckets[i]! += b));
          acc.sum += point.sum;
          acc.count += point.count;
        } else if (acc.kind !== "histogram" && point.kind !== "histogram") acc.value += point.value;
      }
      for (const point of sums.values()) {
        const labels = promLabels(point.labels);
        if (point.kind !== "histogram") {
          lines.push(`${name}${labelText(labels)} ${point.value}`);
          continue;
        }
        // OTLP counts per bucket; Prometheus' le buckets are cumulative.
        let running = 0;
        point.bounds.forEach((le, i) => {
          running += point.buckets[i] ?? 0;
          lines.push(`${name}_bucket${labelText(labels, ["le", String(le)])} ${running}`);
        });
        lines.push(
          `${name}_bucket${labelText(labels, ["le", "+Inf"])} ${point.count}`,
          `${name}_sum${labelText(labels)} ${point.sum}`,
          `${name}_count${labelText(labels)} ${point.count}`,
        );
      }
    }
    return `${lines.join("\n")}\n`;
  }
}
