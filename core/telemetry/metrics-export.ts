/**
 * Fleet-wide metrics: each isolate pushes its registry (metrics.ts: the same series /metrics shows)
 * as OTLP/HTTP JSON to `<endpoint>/v1/metrics`, and the backend adds the isolates up.
 *
 * The OTLP metrics data model, as a backend needs it to sum isolates it never sees directly:
 * - counters are monotonic Sums with CUMULATIVE temporality: each point is the isolate's total since
 *   its start (startTimeUnixNano), so a lost or repeated push changes nothing and an evicted isolate's
 *   last point still counts what it served;
 * - histograms are CUMULATIVE Histograms (per-bucket counts, explicit bounds); gauges are Gauges;
 * - the resource says service.name and service.instance.id, a random id per isolate: the series'
 *   identity, so points of two isolates are two series to add, never one series going backwards.
 *
 * Why not @opentelemetry/otlp-transformer: it serialises the SDK's own ResourceMetrics (from
 * sdk-metrics' MetricReader), so our registry would still need the same mapping, written against
 * the SDK's types, plus five SDK packages (sdk-metrics, sdk-logs, sdk-trace, resources, core) in the
 * bundle; it is marked internal and experimental. The JSON mapping itself is the code below.
 */
import { nowNanos, otlpAttributes, postOtlp, type OtlpHeaders } from "./otlp.ts";
import type { MetricData } from "./registry.ts";

export interface MetricsExportConfig {
  /** OTLP/HTTP base URL (shared with tracing); undefined: nothing is pushed. */
  endpoint: string | undefined;
  /** Sent with every export (OTEL_EXPORTER_OTLP_HEADERS). */
  headers: OtlpHeaders;
  /** Least time between two pushes of one isolate; 0: after every request. */
  intervalMs: number;
  serviceName: string;
}

/** OTLP AggregationTemporality: CUMULATIVE. */
const CUMULATIVE = 2;

/**
 * This isolate's identity and start, fixed on first use (random values cannot be drawn at a
 * Worker's global scope): the first push, made at the end of the isolate's first request, so the
 * start is that request's time; the registry held nothing before it.
 */
let isolate: { instanceId: string; startTimeUnixNano: string } | undefined;

export function isolateIdentity(): { instanceId: string; startTimeUnixNano: string } {
  isolate ??= { instanceId: crypto.randomUUID(), startTimeUnixNano: nowNanos() };
  return isolate;
}

function unitOf(name: string): string | undefined {
  // What Prometheus' OTLP translation and Grafana read to suffix and format the series.
  return name.includes("_seconds") ? "s" : undefined;
}

/** One registry metric as an OTLP Metric. */
function otlpMetric(data: MetricData, start: string, now: string) {
  const head = { name: data.name, description: data.help, ...(unitOf(data.name) ? { unit: unitOf(data.name) } : {}) };
  if (data.type === "histogram") {
    return {
      ...head,
      histogram: {
        aggregationTemporality: CUMULATIVE,
        dataPoints: data.points.map((p) => ({
          attributes: otlpAttributes(p.labels),
          startTimeUnixNano: start,
          timeUnixNano: now,
          count: String(p.count),
          sum: p.sum,
          // The registry counts cumulatively (le); OTLP wants each bucket's own count, the last one
          // being (highest bound, +Inf).
          bucketCounts: [...p.cumulative, p.count].map((n, i, all) => String(n - (i === 0 ? 0 : all[i - 1]!))),
          explicitBounds: [...data.bounds],
        })),
      },
    };
  }
  const dataPoints = data.points.map((p) => ({
    attributes: otlpAttributes(p.labels),
    ...(data.type === "counter" ? { startTimeUnixNano: start } : {}),
    timeUnixNano: now,
    asDouble: p.value,
  }));
  return data.type === "counter"
    ? { ...head, sum: { aggregationTemporality: CUMULATIVE, isMonotonic: true, dataPoints } }
    : { ...head, gauge: { dataPoints } };
}

/** ExportMetricsServiceRequest in OTLP/JSON: this isolate's registry, read now. */
export function toOtlpMetrics(serviceName: string, metrics: MetricData[], identity = isolateIdentity()) {
  const { instanceId, startTimeUnixNano } = identity;
  const now = nowNanos();
  return {
    resourceMetrics: [
      {
        resource: { attributes: otlpAttributes({ "service.name": serviceName, "service.instance.id": instanceId }) },
        scopeMetrics: [
          {
            scope: { name: "clinic-edge" },
            // A metric with no series yet is left out: OTLP has no use for an empty one.
            metrics: metrics.filter((m) => m.points.length > 0).map((m) => otlpMetric(m, startTimeUnixNano, now)),
          },
        ],
      },
    ],
  };
}

/**
 * When this isolate pushes to one endpoint: at most once per interval, decided on the request
 * path (a Worker has no timer that outlives its requests). The request that finds a push due runs
 * it in its waitUntil; requests arriving while it runs add nothing but a flag, and the running push
 * sends once more after it if they are due by then, so the collector ends with the latest totals.
 * Counts made in the interval before an isolate goes idle wait for its next request; an isolate
 * evicted meanwhile loses them (cumulative points make every earlier push still count).
 */
class Pusher {
  readonly #endpoint: string;
  #lastStartedAt = Number.NEGATIVE_INFINITY;
  #running = false;
  #again = false;

  constructor(endpoint: string) {
    this.#endpoint = endpoint;
  }

  due(
    config: MetricsExportConfig,
    read: () => MetricData[],
  ): ((signal: AbortSignal | undefined) => Promise<void>) | undefined {
    if (Date.now() - this.#lastStartedAt < config.intervalMs) return undefined;
    if (this.#running) {
      this.#again = true;
      return undefined;
    }
    this.#running = true;
    return async (signal) => {
      try {
        do {
          this.#again = false;
          this.#lastStartedAt = Date.now();
          await postOtlp(
            this.#endpoint,
            config.headers,
            "v1/metrics",
            toOtlpMetrics(config.serviceName, read()),
            signal,
          );
        } while (this.#again);
      } finally {
        this.#running = false;
      }
    };
  }
}

const pushers = new Map<string, Pusher>();

/**
 * The push to run in waitUntil after this request, or undefined when none is due (or no endpoint
 * is configured). `read` is called when the push runs, so it carries everything counted by then.
 */
export function metricsPush(
  config: MetricsExportConfig,
  read: () => MetricData[],
): ((signal: AbortSignal | undefined) => Promise<void>) | undefined {
  const endpoint = config.endpoint;
  if (endpoint === undefined) return undefined;
  let pusher = pushers.get(endpoint);
  if (!pusher) {
    pusher = new Pusher(endpoint);
    pushers.set(endpoint, pusher);
  }
  return pusher.due(config, read);
}
