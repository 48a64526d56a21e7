/**
 * Tracing: W3C trace context in and out, spans exported as OTLP/HTTP JSON with fetch.
 *
 * Why not the OpenTelemetry JS SDK: its OTLP/HTTP exporter sends with Node's `http` (Node build)
 * or XMLHttpRequest/sendBeacon (browser build), which workerd lacks (opentelemetry-js #4631; a
 * fetch transport for browsers only came in 2026, #6391), and its context propagation expects an
 * ambient context manager. otel-cf-workers solves both but loses the trace at the Durable Object
 * hop (its issue #58), the one hop this service most needs to see. What is needed is small: ids,
 * parent links, attributes, a batched JSON POST. Context is passed explicitly (a parent span),
 * never ambient, so a span can never be attributed to another request sharing the isolate.
 *
 * Unset OTEL_EXPORTER_OTLP_ENDPOINT (or an unsampled trace): every span is NOOP_SPAN, which records
 * nothing and allocates nothing.
 */

import { nowNanos, otlpAttributes, postOtlp, type AttributeValue, type Attributes, type OtlpHeaders } from "./otlp.ts";

export type { AttributeValue, Attributes } from "./otlp.ts";

/** OTLP SpanKind numbers. */
export const SpanKind = { internal: 1, server: 2, client: 3 } as const;
export type SpanKindValue = (typeof SpanKind)[keyof typeof SpanKind];

export interface SpanContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

/** A span, or the no-op stand-in when nothing is recorded. */
export interface Span {
  readonly recording: boolean;
  /** `00-<trace>-<span>-<flags>` to hand to the next hop; undefined when not recording. */
  traceparent(): string | undefined;
  setAttribute(key: string, value: AttributeValue | undefined): void;
  /** Renames the span (the server span learns its route template only once routing is done). */
  setName(name: string): void;
  /** Marks the span failed (OTLP status ERROR) with a message that carries no personal data. */
  fail(message: string): void;
  child(name: string, kind?: SpanKindValue, attributes?: Attributes): Span;
  end(): void;
  /**
   * Hands the spans of this span's trace that ended since its last flush to the isolate's batch,
   * for work that ends after its request's spans left (waitUntil tasks). Returns the export work
   * (as Trace.flush does), or undefined when there is nothing to send or a scheduled task takes them.
   */
  flushTrace(): ((signal: AbortSignal | undefined) => Promise<void>) | undefined;
}

export const NOOP_SPAN: Span = {
  recording: false,
  traceparent: () => undefined,
  setAttribute: () => {},
  setName: () => {},
  fail: () => {},
  child: () => NOOP_SPAN,
  end: () => {},
  flushTrace: () => undefined,
};

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Parses a W3C traceparent header; undefined when absent or malformed (a new trace starts). */
export function parseTraceparent(header: string | null | undefined): SpanContext | undefined {
  if (!header) return undefined;
  const m = TRACEPARENT.exec(header.trim().toLowerCase());
  if (!m || m[1] === "ff") return undefined;
  const [, , traceId, spanId, flags] = m as unknown as [string, string, string, string, string];
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

function randomHex(bytes: number): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  let out = "";
  for (const b of buf) out += b.toString(16).padStart(2, "0");
  return out;
}

interface FinishedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: SpanKindValue;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attributes;
  error: string | undefined;
}

class RecordingSpan implements Span {
  readonly recording = true;
  readonly #trace: Trace;
  readonly #spanId = randomHex(8);
  readonly #parentSpanId: string | undefined;
  #name: string;
  readonly #kind: SpanKindValue;
  readonly #start = nowNanos();
  readonly #attributes: Attributes;
  #error: string | undefined;
  #ended = false;

  constructor(trace: Trace, name: string, kind: SpanKindValue, parentSpanId: string | undefined, attributes: Attributes) {
    this.#trace = trace;
    this.#name = name;
    this.#kind = kind;
    this.#parentSpanId = parentSpanId;
    this.#attributes = { ...attributes };
  }

  get spanId(): string {
    return this.#spanId;
  }

  traceparent(): string {
    return `00-${this.#trace.traceId}-${this.#spanId}-01`;
  }

  setAttribute(key: string, value: AttributeValue | undefined): void {
    this.#attributes[key] = value;
  }

  setName(name: string): void {
    this.#name = name;
  }

  fail(message: string): void {
    this.#error = message;
  }

  child(name: string, kind: SpanKindValue = SpanKind.internal, attributes: Attributes = {}): Span {
    return new RecordingSpan(this.#trace, name, kind, this.#spanId, attributes);
  }

  flushTrace(): ((signal: AbortSignal | undefined) => Promise<void>) | undefined {
    return this.#trace.flush();
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#trace.finished({
      traceId: this.#trace.traceId,
      spanId: this.#spanId,
      parentSpanId: this.#parentSpanId,
      name: this.#name,
      kind: this.#kind,
      startTimeUnixNano: this.#start,
      endTimeUnixNano: nowNanos(),
      attributes: this.#attributes,
      error: this.#error,
    });
  }
}

/** Most spans one trace buffers: a runaway loop must not grow the isolate's memory. */
const MAX_SPANS = 512;
/** How long ended spans wait in the isolate for others to share their POST (OTEL_BSP_SCHEDULE_DELAY's role). */
export const EXPORT_DELAY_MS = 500;
/** A batch this large is sent at once (OTEL_BSP_MAX_EXPORT_BATCH_SIZE's role). */
const MAX_BATCH = 512;
/** Most spans waiting in one isolate; beyond it new ones are dropped and counted (OTEL_BSP_MAX_QUEUE_SIZE's role). */
const MAX_QUEUE = 2_048;

/**
 * The isolate's batch of ended spans, per collector: one POST per EXPORT_DELAY_MS (or per MAX_BATCH
 * spans) instead of one per request and per Durable Object call, which cost a third of the
 * throughput when measured (bench/README.md). Spans are plain data, so one request's export task
 * may carry another's: the first task to find the batch empty waits the delay and sends whatever
 * has gathered; the others only add to it. The cost: spans of the last requests before an isolate
 * is evicted mid-delay are lost, as with the SDK's BatchSpanProcessor.
 */
class Batcher {
  readonly #endpoint: string;
  readonly #headers: OtlpHeaders;
  readonly #serviceName: string;
  #queue: FinishedSpan[] = [];
  #dropped = 0;
  #waiting = false;

  constructor(endpoint: string, headers: OtlpHeaders, serviceName: string) {
    this.#endpoint = endpoint;
    this.#headers = headers;
    this.#serviceName = serviceName;
  }

  /**
   * Adds spans to the batch. Returns the work the caller must run in waitUntil (wait the delay,
   * then send; or send now, the batch being full), or undefined when a task already waiting will
   * take them: most requests then cost no background task at all.
   */
  enqueue(spans: FinishedSpan[]): ((signal: AbortSignal | undefined) => Promise<void>) | undefined {
    const room = MAX_QUEUE - this.#queue.length;
    if (spans.length > room) this.#dropped += spans.length - Math.max(0, room);
    this.#queue.push(...spans.slice(0, Math.max(0, room)));
    if (this.#queue.length >= MAX_BATCH) return (signal) => this.#send(signal);
    if (this.#waiting) return undefined;
    this.#waiting = true;
    return async (signal) => {
      try {
        await sleep(EXPORT_DELAY_MS, signal);
      } finally {
        this.#waiting = false;
      }
      await this.#send(signal);
    };
  }

  async #send(signal: AbortSignal | undefined): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      const dropped = this.#dropped;
      this.#dropped = 0;
      await postOtlp(this.#endpoint, this.#headers, "v1/traces", toOtlp(this.#serviceName, batch, dropped), signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

const batchers = new Map<string, Batcher>();

function batcherFor(endpoint: string, headers: OtlpHeaders, serviceName: string): Batcher {
  const key = `${serviceName} ${endpoint} ${JSON.stringify(headers)}`;
  let batcher = batchers.get(key);
  if (!batcher) {
    batcher = new Batcher(endpoint, headers, serviceName);
    batchers.set(key, batcher);
  }
  return batcher;
}

export interface TracingConfig {
  /** OTLP/HTTP base URL (spans go to `<endpoint>/v1/traces`); undefined: tracing off. */
  endpoint: string | undefined;
  /** Sent with every export (OTEL_EXPORTER_OTLP_HEADERS). */
  headers: OtlpHeaders;
  /** Share of new traces recorded, 0..1; an incoming traceparent's sampled flag decides for it. */
  sampleRatio: number;
  serviceName: string;
}

/**
 * The spans of one trace recorded by one process (the Worker for a request, or a Durable Object for
 * one call), collected in memory until flush() hands them to the isolate's batch.
 */
export class Trace {
  readonly traceId: string;
  readonly #config: TracingConfig & { endpoint: string };
  #spans: FinishedSpan[] = [];

  private constructor(config: TracingConfig & { endpoint: string }, traceId: string) {
    this.#config = config;
    this.traceId = traceId;
  }

  /**
   * The root of this process's part of a trace: continues `parent` (a traceparent) when one is
   * given, or starts a new trace subject to sampling. Returns NOOP_SPAN and no Trace when nothing
   * is to be recorded.
   */
  static begin(
    config: TracingConfig,
    traceparent: string | null | undefined,
    name: string,
    kind: SpanKindValue,
    attributes: Attributes = {},
  ): { trace: Trace | undefined; span: Span } {
    const endpoint = config.endpoint;
    if (endpoint === undefined) return { trace: undefined, span: NOOP_SPAN };
    const parent = parseTraceparent(traceparent);
    // Parent-based: the caller already decided for the whole trace.
    const sampled = parent ? parent.sampled : Math.random() < config.sampleRatio;
    if (!sampled) return { trace: undefined, span: NOOP_SPAN };
    const trace = new Trace({ ...config, endpoint }, parent?.traceId ?? randomHex(16));
    return { trace, span: new RecordingSpan(trace, name, kind, parent?.spanId, attributes) };
  }

  finished(span: FinishedSpan): void {
    if (this.#spans.length < MAX_SPANS) this.#spans.push(span);
  }

  /**
   * Hands the spans ended so far to the isolate's batch. Returns the export work to run in
   * waitUntil (bounded by its signal), or undefined when a task already scheduled will send them.
   * Spans ending later go with a later flush.
   */
  flush(): ((signal: AbortSignal | undefined) => Promise<void>) | undefined {
    const spans = this.#spans;
    this.#spans = [];
    if (spans.length === 0) return undefined;
    return batcherFor(this.#config.endpoint, this.#config.headers, this.#config.serviceName).enqueue(spans);
  }
}

/** ExportTraceServiceRequest in OTLP/JSON (ids as hex strings, times as decimal strings). */
function toOtlp(serviceName: string, spans: FinishedSpan[], dropped: number) {
  return {
    resourceSpans: [
      {
        resource: { attributes: otlpAttributes({ "service.name": serviceName, "otel.dropped_spans": dropped || undefined }) },
        scopeSpans: [
          {
            scope: { name: "clinic-edge" },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: s.kind,
              startTimeUnixNano: s.startTimeUnixNano,
              endTimeUnixNano: s.endTimeUnixNano,
              attributes: otlpAttributes(s.attributes),
              status: s.error === undefined ? { code: 0 } : { code: 2, message: s.error },
            })),
          },
        ],
      },
    ],
  };
}

/**
 * db.operation and the tables from parameterised SQL text (Drizzle sends `$1` placeholders, never
 * values): the statement's verb (for a WITH query, the data-changing verb it contains, else
 * SELECT) and the names after FROM/JOIN/INTO/UPDATE (CTE names included). The text itself is not
 * recorded: a hand-written statement could inline a literal.
 */
export function sqlAttributes(sql: string): Attributes {
  let operation = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase();
  if (operation === "WITH") operation = /\b(insert|update|delete|merge)\b/i.exec(sql)?.[1]?.toUpperCase() ?? "SELECT";
  const tables = new Set<string>();
  for (const m of sql.matchAll(/\b(?:from|join|into|update)\s+"?([a-z_][\w.]*)"?/gi)) tables.add(m[1]!);
  const [table] = tables;
  return {
    "db.system": "postgresql",
    "db.operation": operation,
    "db.sql.table": table,
    "db.sql.tables": tables.size > 1 ? [...tables].join(",") : undefined,
  };
}

/** Runs `work` inside a child span of `parent`, ending it however `work` ends. */
export async function inSpan<T>(
  parent: Span,
  name: string,
  kind: SpanKindValue,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  if (!parent.recording) return work(NOOP_SPAN);
  const span = parent.child(name, kind, attributes);
  try {
    return await work(span);
  } catch (err) {
    span.fail(err instanceof Error ? err.name : "error");
    throw err;
  } finally {
    span.end();
  }
}
