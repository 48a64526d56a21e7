/**
 * Slow request, found by tracing: one patient in twenty has an insurer that takes 1.5 s to answer
 * (the stand-in's SLOW1500- member ids), and eligibility checks wait for it under the default
 * INSURANCE_TIMEOUT_MS (2 s): p99 goes above a second. The slowest request's trace, read back from
 * the local OTLP collector, points at the insurer call. With a tight budget for the dependency
 * (INSURANCE_TIMEOUT_MS=300) the same load stays fast and the answer says "unknown".
 */
import { randomBytes } from "node:crypto";
import type { ReceivedSpan } from "../../dev/otlp-collector.ts";
import { figure, type Incident, type VariantContext, type VariantSpec } from "../incident.ts";
import type { LabTrace } from "../run-format.ts";

const CONCURRENCY = 6;
const SLOW_ONE_IN = 20;
let patients: Array<{ id: string }> | undefined;

async function thePatients(ctx: VariantContext): Promise<Array<{ id: string }>> {
  if (patients) return patients;
  const { rows } = await ctx.target.monitor.query<{ id: string }>(
    `INSERT INTO patients (name, email, birth_date, insurance_member_id)
     SELECT 'Lab Slow ' || i, 'lab-slow-' || i || '@example.test', '1980-01-01',
            CASE WHEN i % ${SLOW_ONE_IN} = 0 THEN 'SLOW1500-LAB' || i ELSE 'LAB-FAST-' || i END
     FROM generate_series(1, ${SLOW_ONE_IN * 2}) i ORDER BY i RETURNING id`,
  );
  patients = rows;
  return rows;
}

const ns = (s: string): number => Number(BigInt(s) / 1_000n) / 1_000;

/** The trace as the report draws it: start times relative to its root span, the slowest non-root span marked. */
export function labTrace(spans: readonly ReceivedSpan[]): LabTrace | undefined {
  // The root: the span whose parent is not in the trace (the lab's client sent the first traceparent).
  const ids = new Set(spans.map((s) => s.spanId));
  const root = spans.find((s) => !s.parentSpanId || !ids.has(s.parentSpanId)) ?? spans[0];
  if (!root) return undefined;
  const t0 = ns(root.startTimeUnixNano);
  const shaped = spans
    .map((s) => ({
      spanId: s.spanId,
      ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
      name: s.name,
      startMs: Math.round((ns(s.startTimeUnixNano) - t0) * 10) / 10,
      durationMs: Math.round((ns(s.endTimeUnixNano) - ns(s.startTimeUnixNano)) * 10) / 10,
      attributes: s.attributes,
    }))
    .sort((a, b) => a.startMs - b.startMs);
  const children = shaped.filter((s) => s.spanId !== root.spanId);
  const slowest = (children.length ? children : shaped).reduce((a, b) => (b.durationMs > a.durationMs ? b : a));
  return { traceId: root.traceId, slowestSpanId: slowest.spanId, spans: shaped };
}

function variant(name: string, kind: "bad" | "good", bindings: Record<string, string>): VariantSpec {
  return {
    name,
    kind,
    bindings: { OTEL_SAMPLE_RATIO: "1", ...bindings },
    load: async (ctx) => {
      const list = await thePatients(ctx);
      const date = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      await ctx.recorder.closedLoop(
        (i) => ({
          url: `${ctx.worker.base}/patients/${list[i % list.length]!.id}/eligibility?date=${date}`,
          // A trace id of the lab's own, so the slowest request's trace can be found again.
          headers: {
            ...ctx.headers,
            traceparent: `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`,
          },
        }),
        CONCURRENCY,
        ctx.seconds,
      );
    },
    trace: (ctx) => {
      const slowest = ctx.recorder.outcomes
        .filter((o) => o.traceId)
        .reduce<(typeof ctx.recorder.outcomes)[number] | undefined>((a, b) => (!a || b.ms > a.ms ? b : a), undefined);
      return Promise.resolve(slowest?.traceId ? labTrace(ctx.worker.collector.spans(slowest.traceId)) : undefined);
    },
  };
}

export const slowRequest: Incident = {
  id: "slow-request",
  title: "Slow request, found by tracing",
  what: "One patient in twenty has an insurer that takes 1.5 s: the eligibility check waits for it and p99 passes a second; the slowest request's trace points at the insurer call. A tight budget for the dependency keeps every answer fast.",
  alerts: ["SlowRequests"],
  before: (stack) => void stack.insurance.controls({ down: false, latencyMs: 0, errorRate: 0 }),
  variants: [
    variant("bad: waiting out a slow insurer", "bad", {}),
    variant("good: a 300 ms budget for the insurer", "good", {
      INSURANCE_TIMEOUT_MS: "300",
      INSURANCE_MAX_ATTEMPTS: "1",
    }),
  ],
  checks: ([bad, good], trace) => [
    traceCheck(trace),
    {
      name: "p99 above a second without a budget for the insurer, below with one",
      passed: figure(bad, "p99 ms") > 1_000 && figure(good, "p99 ms") < 1_000,
      detail: `bad ${figure(bad, "p99 ms")} ms, good ${figure(good, "p99 ms")} ms`,
    },
  ],
};

/** The check on the trace, added by the runner once the bad variant's trace is read. */
export function traceCheck(trace: LabTrace | undefined): { name: string; passed: boolean; detail: string } {
  const slow = trace?.spans.find((s) => s.spanId === trace.slowestSpanId);
  return {
    name: "the slowest request's trace points at the insurer call",
    passed:
      !!slow && slow.spanId !== trace?.spans[0]?.spanId && /insur|eligib/i.test(slow.name) && slow.durationMs >= 1_000,
    detail: slow ? `slowest span "${slow.name}", ${slow.durationMs} ms of ${trace?.spans.length} spans` : "no trace",
  };
}
