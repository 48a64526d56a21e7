/**
 * The fixed loads an incident runs against each variant, every one bounded in time and in requests,
 * and what they record: one entry per request (when it was sent, its status, how long it took),
 * from which the variant's per-second series and summary row are computed.
 */
import { Agent } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { send } from "../bench/lib/closed-loop.ts";
import { percentile } from "../bench/lib/stack.ts";
import type { LabPoint } from "./run-format.ts";

export interface Outcome {
  /** Seconds since the variant started when the request was sent. */
  sentAt: number;
  /** "200", "504", ... or "network-error". */
  status: string;
  ms: number;
  /** The trace the request asked for in its traceparent, when it sent one. */
  traceId?: string;
  /** Which part of the load sent it, when the load says (schema-change: the Worker version). */
  tag?: string;
}

/** One request of a load: GET unless it says otherwise. */
export interface LabRequest {
  url: string;
  headers?: Record<string, string>;
  method?: string;
  body?: string;
  tag?: string;
}

/** The request number `i` of a load. */
export type RequestOf = (i: number) => LabRequest;

/** Longest any one lab request may take before the load gives up on it. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Most requests one load sends, whatever its rate and length. */
const MAX_REQUESTS = 100_000;

export class Recorder {
  readonly outcomes: Outcome[] = [];
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 256 });
  readonly #t0: number;
  #sent = 0;

  constructor(t0: number) {
    this.#t0 = t0;
  }

  /** Seconds since the variant started. */
  now(): number {
    return (performance.now() - this.#t0) / 1_000;
  }

  /** Sends one request and records its outcome; returns the outcome with the answer's body. */
  async one(request: RequestOf, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Outcome & { body: string }> {
    const i = this.#sent++;
    const { url, headers, method, body, tag } = request(i);
    const sentAt = this.now();
    const started = performance.now();
    const reply = await send(this.#agent, url, { method, headers, body, timeoutMs });
    const traceId = headers?.traceparent?.split("-")[1];
    const outcome: Outcome = {
      sentAt,
      status: reply.status,
      ms: performance.now() - started,
      ...(traceId ? { traceId } : {}),
      ...(tag ? { tag } : {}),
    };
    this.outcomes.push(outcome);
    return { ...outcome, body: reply.body };
  }

  /** `concurrency` requests in flight until `seconds` are up. */
  async closedLoop(request: RequestOf, concurrency: number, seconds: number): Promise<void> {
    const until = this.now() + seconds;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (this.now() < until && this.#sent < MAX_REQUESTS) await this.one(request);
      }),
    );
  }

  /**
   * `perSecond` requests a second, whether or not earlier ones have answered, for `seconds`; each
   * given up on after `timeoutMs` (a caller's own patience, "network-error").
   */
  async openLoop(
    request: RequestOf,
    perSecond: number,
    seconds: number,
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<void> {
    const pending: Array<Promise<Outcome>> = [];
    const start = this.now();
    const total = Math.min(MAX_REQUESTS, Math.round(perSecond * seconds));
    for (let i = 0; i < total; i++) {
      const due = start + i / perSecond;
      const wait = (due - this.now()) * 1_000;
      if (wait > 0) await sleep(wait);
      pending.push(this.one(request, timeoutMs));
    }
    await Promise.all(pending);
  }

  /** `n` requests at once. */
  async burst(request: RequestOf, n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.one(request)));
  }

  close(): void {
    this.#agent.destroy();
  }
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** req_per_s, p50_ms, p99_ms, errors_4xx, errors_5xx per second of sending. */
export function loadSeries(outcomes: readonly Outcome[], seconds: number): LabPoint[] {
  const points: LabPoint[] = [];
  for (let t = 0; t < Math.ceil(seconds); t++) {
    const inSecond = outcomes.filter((o) => o.sentAt >= t && o.sentAt < t + 1);
    const ms = inSecond.map((o) => o.ms).sort((a, b) => a - b);
    const status = (prefix: string) => inSecond.filter((o) => o.status.startsWith(prefix)).length;
    points.push(
      { t, metric: "req_per_s", value: inSecond.length },
      { t, metric: "p50_ms", value: ms.length ? round1(percentile(ms, 50)) : 0 },
      { t, metric: "p99_ms", value: ms.length ? round1(percentile(ms, 99)) : 0 },
      { t, metric: "errors_4xx", value: status("4") },
      { t, metric: "errors_5xx", value: status("5") + inSecond.filter((o) => o.status === "network-error").length },
    );
  }
  return points;
}

/** The load's part of a summary row: requests, req/s, p50/p99 ms, and every status with its count. */
export function loadSummary(outcomes: readonly Outcome[], seconds: number): Record<string, number | string> {
  const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const byStatus: Record<string, number> = {};
  for (const o of outcomes) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
  return {
    requests: outcomes.length,
    "req/s": round1(outcomes.length / seconds),
    "p50 ms": ms.length ? round1(percentile(ms, 50)) : "-",
    "p99 ms": ms.length ? round1(percentile(ms, 99)) : "-",
    statuses: Object.entries(byStatus)
      .sort(([, a], [, b]) => b - a)
      .map(([s, n]) => `${s}×${n}`)
      .join(" "),
  };
}
