/**
 * Tracing: W3C trace context in and out, spans recorded per process (the Worker for a request, a
 * Durable Object for one call) and exported as OTLP/HTTP JSON with fetch (span-export.ts).
 *
 * Context is passed explicitly (a parent span), never ambient, so a span can never be attributed to
 * another request sharing the isolate. Why this and not the OpenTelemetry SDK or otel-cf-workers:
 * docs/decisions/0001-own-otlp-tracer.md.
 *
 * Unset OTEL_EXPORTER_OTLP_ENDPOINT (or an unsampled trace): every span is NOOP_SPAN, which records
 * nothing and allocates nothing.
 */

import { nowNanos, type AttributeValue, type Attributes, type OtlpHeaders } from "./otlp.ts";
import { batcherFor, type FinishedSpan } from "./span-export.ts";

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

  constructor(
    trace: Trace,
    name: string,
    kind: SpanKindValue,
    parentSpanId: string | undefined,
    attributes: Attributes,
  ) {
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
  // A write done by a SQL function in one round trip is `SELECT fn(...)`, from no table: name it.
  const procedure = tables.size === 0 ? /^\s*select\s+([a-z_]\w*)\s*\(/i.exec(sql)?.[1] : undefined;
  return {
    "db.system": "postgresql",
    "db.operation": operation,
    "db.sql.table": table,
    "db.sql.tables": tables.size > 1 ? [...tables].join(",") : undefined,
    "db.stored_procedure.name": procedure,
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
