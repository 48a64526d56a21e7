/**
 * Leaked work: requests queue on one lock (a transaction taking an advisory lock, holding it
 * 250 ms) at 15 a second, four times what the lock can serve. With no deadline they wait as long
 * as the queue is: in-flight requests and Postgres backends pile up, and outlive the callers who
 * gave up on them. With the request's deadline (X-Request-Timeout-Ms: 500) they answer 504 in
 * time and everything is back to zero when the load stops.
 */
import { last, peak, type Incident, type VariantSpec } from "../incident.ts";

const PER_SECOND = 15;
const HOLD_MS = 250;
const BUDGET_MS = 500;
/** How long a caller waits before giving up (a load balancer's timeout). */
const CALLER_TIMEOUT_MS = 3_000;

function variant(name: string, kind: "bad" | "good", deadline: boolean): VariantSpec {
  return {
    name,
    kind,
    load: (ctx) =>
      ctx.recorder.openLoop(
        () => ({
          url: `${ctx.worker.base}/__lab/hold-lock?holdMs=${HOLD_MS}&deadline=${deadline ? 1 : 0}`,
          headers: { ...ctx.headers, "x-request-timeout-ms": String(BUDGET_MS) },
        }),
        PER_SECOND,
        ctx.seconds,
        CALLER_TIMEOUT_MS,
      ),
    summarize: async (ctx) => ({
      "in flight at end": await ctx.worker.prometheus.value("sum(http_requests_in_flight)"),
      "backends at end": await ctx.target.exporter.backendsNow(),
    }),
  };
}

export const leakedWork: Incident = {
  id: "leaked-work",
  title: "Leaked work",
  what: "Requests wait on a lock with no deadline: in-flight requests and Postgres backends pile up and outlive their callers; with a deadline they answer 504 in time and nothing is left behind.",
  alerts: ["RequestsPilingUp"],
  before: async (stack) => {
    // Backends the last variant left waiting on the lock (a killed workerd's) are not this variant's.
    await stack.target.monitor.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'clinic-edge:%'",
    );
  },
  variants: [variant("bad: no deadline", "bad", false), variant("good: the request's deadline", "good", true)],
  checks: ([bad, good]) => [
    {
      name: "in-flight requests pile up without a deadline, stay bounded with one",
      passed: peak(bad, "in_flight") > 2 * peak(good, "in_flight") && peak(bad, "in_flight") > 20,
      detail: `peak bad ${peak(bad, "in_flight")}, good ${peak(good, "in_flight")}`,
    },
    {
      name: "in-flight requests and backends back to zero after the load (good), not (bad)",
      passed:
        last(good, "in_flight") === 0 &&
        last(good, "pg_backends") === 0 &&
        (last(bad, "in_flight") > 0 || last(bad, "pg_backends") > 0),
      detail: `at the end: bad ${last(bad, "in_flight")} in flight, ${last(bad, "pg_backends")} backends; good ${last(good, "in_flight")}, ${last(good, "pg_backends")}`,
    },
  ],
};
