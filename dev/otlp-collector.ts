/**
 * A minimal OTLP/HTTP receiver (JSON encoding), for traces and metrics:
 *   POST /v1/traces                  stores every span that arrives
 *   GET  /spans?traceId=<hex>        the stored spans of one trace, flattened
 *   POST /v1/metrics                 keeps each instance's latest cumulative points (dev/fleet-metrics.ts)
 *   GET  /metrics                    the fleet in Prometheus text: counters and histograms summed over instances
 *   GET  /v1/metrics/instance?id=<service.instance.id>   exports received from one instance, and its latest as sent
 * The tests start it to assert on what clinic-edge actually sends over the wire; it also works as a
 * local endpoint (`DEV_OTLP=1 npm run dev`, or OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:<port>).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { FleetMetrics, type OtlpAnyValue, type OtlpKeyValue, type OtlpMetricsRequest } from "./fleet-metrics.ts";

/** One received span, with its attributes as plain values and the resource's service.name. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  service: string | undefined;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status: { code: number; message?: string };
  attributes: Record<string, string | number | boolean>;
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status?: { code?: number; message?: string };
  attributes?: OtlpKeyValue[];
}
interface OtlpRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

function plain(value: OtlpAnyValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return "";
}

function attributes(list: OtlpKeyValue[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, plain(kv.value)]));
}

export interface RunningCollector {
  url: string;
  /** Trace export requests received. */
  readonly exports: number;
  /** Metric export requests received. */
  readonly metricExports: number;
  spans(traceId: string): ReceivedSpan[];
  /** The fleet-wide Prometheus text (what GET /metrics serves). */
  fleetMetrics(): string;
  close(): Promise<void>;
}

/** Most traces kept: a long dev session must not grow without bound. */
const MAX_TRACES = 10_000;

export interface CollectorOptions {
  host?: string;
  port?: number;
  /** Header values every export must carry, as a hosted backend's API key (401 otherwise). */
  requireHeaders?: Record<string, string>;
}

export async function startCollector(options: CollectorOptions = {}): Promise<RunningCollector> {
  const traces = new Map<string, ReceivedSpan[]>();
  const fleet = new FleetMetrics();
  let exportsReceived = 0;
  let metricExportsReceived = 0;
  let refused = 0;
  const required = Object.entries(options.requireHeaders ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);

  function store(body: OtlpRequest): void {
    for (const rs of body.resourceSpans ?? []) {
      const service = attributes(rs.resource?.attributes)["service.name"];
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          let list = traces.get(span.traceId);
          if (!list) {
            if (traces.size >= MAX_TRACES) traces.delete(traces.keys().next().value!);
            list = [];
            traces.set(span.traceId, list);
          }
          list.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind ?? 0,
            service: typeof service === "string" ? service : undefined,
            startTimeUnixNano: span.startTimeUnixNano,
            endTimeUnixNano: span.endTimeUnixNano,
            status: { code: span.status?.code ?? 0, ...(span.status?.message ? { message: span.status.message } : {}) },
            attributes: attributes(span.attributes),
          });
        }
      }
    }
  }

  /** An OTLP/JSON request body, or undefined (answered 415) when it is not JSON. */
  async function jsonBody<T>(req: IncomingMessage, res: ServerResponse): Promise<T | undefined> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (!(req.headers["content-type"] ?? "").startsWith("application/json")) {
      res.writeHead(415).end();
      return undefined;
    }
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as T;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://collector");
    const route = `${req.method} ${url.pathname}`;
    if (route === "POST /v1/traces" || route === "POST /v1/metrics") {
      if (required.some(([name, value]) => req.headers[name] !== value)) {
        refused++;
        req.resume(); // drain the body
        res.writeHead(401, { "content-type": "application/json" }).end('{"message":"missing or wrong credentials"}');
        return;
      }
      const body = await jsonBody<OtlpRequest & OtlpMetricsRequest>(req, res);
      if (!body) return;
      if (route === "POST /v1/traces") {
        store(body);
        exportsReceived++;
      } else {
        fleet.receive(body);
        metricExportsReceived++;
      }
      // An empty Export*ServiceResponse: everything accepted.
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    if (route === "GET /spans") {
      const spans = traces.get(url.searchParams.get("traceId") ?? "") ?? [];
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(spans));
      return;
    }
    if (route === "GET /v1/received") {
      const counts = { traces: exportsReceived, metrics: metricExportsReceived, refused };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(counts));
      return;
    }
    if (route === "GET /metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(fleet.render());
      return;
    }
    if (route === "GET /v1/metrics/instance") {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify(fleet.instance(url.searchParams.get("id") ?? "")));
      return;
    }
    res.writeHead(404).end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(400);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get exports() {
      return exportsReceived;
    },
    get metricExports() {
      return metricExportsReceived;
    },
    spans: (traceId) => traces.get(traceId) ?? [],
    fleetMetrics: () => fleet.render(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
