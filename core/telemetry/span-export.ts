import { otlpAttributes, postOtlp, type Attributes, type OtlpHeaders } from "./otlp.ts";
import type { SpanKindValue } from "./tracing.ts";

/** An ended span as it waits for export. */
export interface FinishedSpan {
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

/** How long ended spans wait in the isolate for others to share their POST (OTEL_BSP_SCHEDULE_DELAY's role). */
export const EXPORT_DELAY_MS = 500;
/** A batch this large is sent at once (OTEL_BSP_MAX_EXPORT_BATCH_SIZE's role). */
const MAX_BATCH = 512;
/** Most spans waiting in one isolate; beyond it new ones are dropped and counted (OTEL_BSP_MAX_QUEUE_SIZE's role). */
const MAX_QUEUE = 2_048;

/**
 * The isolate's batch of ended spans, per collector: one POST per EXPORT_DELAY_MS (or per MAX_BATCH
 * spans) instead of one per request and per Durable Object call, which cost a third of the
 * throughput when measured (bench:observability). Spans are plain data, so one request's export task
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

export function batcherFor(endpoint: string, headers: OtlpHeaders, serviceName: string): Batcher {
  const key = `${serviceName} ${endpoint} ${JSON.stringify(headers)}`;
  let batcher = batchers.get(key);
  if (!batcher) {
    batcher = new Batcher(endpoint, headers, serviceName);
    batchers.set(key, batcher);
  }
  return batcher;
}

/** ExportTraceServiceRequest in OTLP/JSON (ids as hex strings, times as decimal strings). */
function toOtlp(serviceName: string, spans: FinishedSpan[], dropped: number) {
  return {
    resourceSpans: [
      {
        resource: {
          attributes: otlpAttributes({ "service.name": serviceName, "otel.dropped_spans": dropped || undefined }),
        },
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
